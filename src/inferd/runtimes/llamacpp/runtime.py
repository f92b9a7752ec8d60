"""The ``llamacpp`` runtime: GGUF language models on llama.cpp (extra ``inferd[llm]``).

A loaded version is a :class:`LlamaModel`: a :class:`~inferd.generation.TextGenerator` whose
generations run on a continuous-batching :class:`~.engine.Engine`, plus embeddings (mean
pooling) on a second, small context made on first use. Weights are shared: versions that load
the same file (a base under several adapters) hold one copy, counted by :data:`_SHARED`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from inferd.card import ModelCard
from inferd.datatypes import Tensors
from inferd.errors import (
    Cancelled,
    ContextLengthExceeded,
    DeadlineExceeded,
    InvalidArgument,
    Unavailable,
    Unsupported,
)
from inferd.generation import Generation, InvalidSampling, Message, Sampling
from inferd.runtimes._files import model_file
from inferd.runtimes.base import LoadOptions, Model
from inferd.runtimes.llamacpp.chat import ChatTemplate
from inferd.runtimes.llamacpp.engine import Engine
from inferd.runtimes.llamacpp.library import Adapter, Context, Weights, max_sequences

#: Sequences decoded together (llama.cpp slots) unless ``max_num_seqs`` says otherwise: more
#: raise aggregate tokens/s until the core saturates; each holds ``per_slot`` tokens of KV cache.
SLOTS = 8
#: A sequence's context unless ``max_model_len`` says otherwise: the model's trained context,
#: capped to bound KV memory.
MAX_CONTEXT = 4096
#: KV cache cells shared by the slots (at least one whole sequence's context). A generation is
#: admitted when its prompt plus ``max_tokens`` fits beside what the running ones reserved, so
#: long generations wait rather than fail; 8 slots of 4,096 cells would cost 17 GB for a 7B model.
KV_CELLS = 8192
#: Tokens in one llama.cpp batch (prefill pieces and one token per decoding sequence).
BATCH = 512
#: Generations queued for a slot before more are refused (503) unless ``max_waiting_seqs`` says
#: otherwise. OpenAI's ``n`` is bounded by it (protocols/openai MAX_CHOICES): every choice of
#: one request must fit the queue.
MAX_WAITING = 64
#: How long an unload waits for running generations to end.
CLOSE_TIMEOUT_S = 30.0


class _SharedWeights:
    """Loaded weights by file, with how many versions hold each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[Path, tuple[Weights, int]] = {}

    def take(self, path: Path) -> Weights:
        key = path.resolve()
        with self._lock:
            found = self._held.get(key)
            weights = found[0] if found is not None else Weights(key)
            self._held[key] = (weights, (found[1] if found is not None else 0) + 1)
            return weights

    def give_back(self, weights: Weights) -> None:
        with self._lock:
            for key, (held, count) in list(self._held.items()):
                if held is weights:
                    if count > 1:
                        self._held[key] = (held, count - 1)
                    else:
                        del self._held[key]
                        held.close()
                    return

    def holders(self, path: Path) -> int:
        with self._lock:
            found = self._held.get(path.resolve())
            return found[1] if found is not None else 0


_SHARED = _SharedWeights()


class LlamaModel:
    """One loaded GGUF version (a :class:`Model` and a ``TextGenerator``)."""

    def __init__(
        self, weights: Weights, options: LoadOptions, label: str, adapter: Adapter | None = None
    ) -> None:
        self._weights = weights
        self._label = label
        self._threads = options.intra_op_threads
        self._adapter = adapter
        slots, per_slot = _shape(weights.context_length, options, label)
        cells = max(per_slot, min(slots * per_slot, KV_CELLS))
        self._context = Context(
            weights, slots=slots, per_slot=per_slot, cells=cells, batch=BATCH,
            threads=self._threads, adapter=adapter,
        )  # fmt: skip
        template = weights.chat_template
        self._template = (
            ChatTemplate(template, weights.bos.decode(errors="replace"),
                         weights.eos.decode(errors="replace"))
            if template else None
        )  # fmt: skip
        self._warm_up()
        weights.longest_piece  # noqa: B018  # the vocabulary walked once per file, before READY
        waiting = options.max_waiting_seqs or MAX_WAITING
        self._engine = Engine(weights, self._context, waiting, label)
        self._embedder: Context | None = None
        #: Held by an embedding while it runs, and by close() while it frees the contexts.
        self._embed_lock = threading.Lock()
        #: Held by tokenize/detokenize while they read the vocabulary, and by close().
        self._reading = threading.Lock()
        self._closed = False

    def _warm_up(self) -> None:
        """One token through the context before the version is READY (first request fast)."""
        ctx = self._context
        ctx.clear_batch()
        for i, token in enumerate(self._weights.tokenize("Hello")[:8]):
            ctx.add(token, i, 0, True)
        if ctx.n:
            ctx.decode()
        ctx.forget(0)

    # -- TextGenerator -------------------------------------------------------------------------

    @property
    def context_length(self) -> int:
        return self._context.per_slot

    @property
    def embeddings(self) -> bool:
        return True

    def chat_prompt(
        self, messages: Sequence[Message], template_kwargs: Mapping[str, object] | None = None
    ) -> str:
        if self._template is None:
            raise InvalidArgument(
                "the model has no chat template (GGUF tokenizer.chat_template); use "
                "/v1/completions with a prompt"
            )
        prompt = self._template.render(messages, template_kwargs)
        # A template that writes BOS itself, on a tokenizer that adds one: drop the template's,
        # as llama.cpp's own chat templating does, so that the prompt starts with one BOS.
        bos = self._weights.bos.decode(errors="replace")
        if self._weights.adds_bos and bos and prompt.startswith(bos):
            return prompt[len(bos) :]
        return prompt

    def count_tokens(self, text: str) -> int:
        return len(self._weights.tokenize(text))

    # -- TokenCodec: off the loop, never on weights close() frees --------------------------------

    def tokenize(self, text: str) -> list[int]:
        """The prompt's tokens; one that would fill the context is refused as :meth:`generate`
        refuses it, before it is read (llama.cpp took minutes on 6 MB of chat template)."""
        self._refuse_far_over(text)
        with self._reading:
            self._refuse_closed()
            return self._weights.tokenize(text)

    def detokenize(self, tokens: Sequence[int]) -> str:
        """The text of at most a context of tokens (5 million took 37 s)."""
        if len(tokens) > (per_slot := self._context.per_slot):
            raise InvalidSampling(
                "tokens",
                f"{len(tokens):,} tokens; at most the context of {per_slot} tokens per sequence",
            )
        vocab = self._weights.n_vocab
        for i, token in enumerate(tokens):
            if not 0 <= token < vocab:
                raise InvalidSampling(
                    f"tokens[{i}]",
                    f"token {token} is outside the model's vocabulary of {vocab} tokens "
                    f"(0 to {vocab - 1})",
                )
        with self._reading:
            self._refuse_closed()
            pieces = [self._weights.piece(token, special=True) for token in tokens]
        return b"".join(pieces).decode(errors="replace")

    def generate(
        self, prompt: str, sampling: Sampling, deadline: float | None = None
    ) -> Generation:
        self._refuse_closed()
        self._refuse_far_over(prompt)
        self.check_sampling(sampling)  # refused here, not on the engine's thread
        return self._engine.submit(self._weights.tokenize(prompt), sampling, deadline)

    def check_sampling(self, sampling: Sampling) -> None:
        """Build and check a JSON schema's grammar (blocks: call it off the loop before
        :meth:`generate`, which then finds it cached and checked at once)."""
        if sampling.json_schema is not None:
            self._weights.check_grammar(sampling.json_schema)

    def _refuse_far_over(self, prompt: str) -> None:
        """Refuse a prompt whose length alone shows it fills the context, before tokenizing it:
        generate runs on the event loop, and tokenizing megabytes there takes seconds, during
        which no other request is served. Each token stands for at most ``longest_piece``
        bytes, and a character is at least one byte; a prompt that passes is at most
        ``longest_piece`` times the context in characters, quick to tokenize."""
        per_slot = self._context.per_slot
        if (least := self._least_tokens(prompt)) >= per_slot:
            raise ContextLengthExceeded(
                f"the prompt is {len(prompt):,} characters, at least {least:,} tokens: over the "
                f"context of {per_slot} tokens per sequence, leaving no room for an answer; "
                "shorten the prompt"
            )

    def _least_tokens(self, text: str) -> int:
        """The fewest tokens ``text`` can be, from its length alone (0: no bound known)."""
        longest = self._weights.longest_piece
        return -(-len(text) // longest) if longest else 0

    def _refuse_closed(self) -> None:
        if self._closed:
            raise Unavailable(f"{self._label} is unloading", retry_after=1)

    def embed(
        self,
        texts: Sequence[str],
        deadline: float | None = None,
        gone: threading.Event | None = None,
    ) -> tuple[list[list[float]], int]:
        # One embedding at a time per version (its one-sequence context), within the deadline.
        wait = -1.0 if deadline is None else max(deadline - time.monotonic(), 0.0)
        if not self._embed_lock.acquire(timeout=wait):
            raise DeadlineExceeded("the embeddings waited for the model past their deadline")
        try:
            return self._embed(texts, deadline, gone)
        finally:
            self._embed_lock.release()

    def _embed(
        self, texts: Sequence[str], deadline: float | None, gone: threading.Event | None
    ) -> tuple[list[list[float]], int]:
        """:meth:`embed`, holding the embedding lock: each text is read only while someone
        still waits for the answer."""
        self._refuse_closed()
        if self._embedder is None:
            self._embedder = Context(
                self._weights, slots=1, per_slot=self._context.per_slot,
                cells=self._context.per_slot, batch=self._context.per_slot,
                threads=self._threads, embeddings=True, adapter=self._adapter,
            )  # fmt: skip
        ctx = self._embedder
        for n, text in enumerate(texts):  # one far over the context: refused before any is read
            if (least := self._least_tokens(text)) > ctx.per_slot:
                raise InvalidArgument(
                    f"input {n} is {len(text):,} characters, at least {least:,} tokens: over the "
                    f"context of {ctx.per_slot} tokens"
                )
        vectors, read = [], 0
        for n, text in enumerate(texts):
            _still_wanted(deadline, gone)
            tokens = self._weights.tokenize(text)
            if not tokens:
                raise InvalidArgument(f"input {n} is empty: nothing to embed")
            if len(tokens) > ctx.per_slot:
                raise InvalidArgument(
                    f"input {n} is {len(tokens)} tokens, over the context of {ctx.per_slot} tokens"
                )
            ctx.clear_batch()
            for i, token in enumerate(tokens):
                ctx.add(token, i, 0, True)
            ctx.decode()
            vectors.append(_unit(ctx.embedding(0)))
            ctx.forget(0)
            read += len(tokens)
        return vectors, read

    def load(self) -> tuple[int, int]:
        return self._engine.load()

    def occupancy(self) -> tuple[int, float]:
        return self._engine.occupancy()

    # -- Model ---------------------------------------------------------------------------------

    def predict(self, inputs: Tensors) -> Tensors:
        raise Unsupported(
            "a language model answers generate requests: POST /v2/models/{name}/generate, or "
            "OpenAI's /v1/chat/completions and /v1/completions"
        )

    def close(self) -> None:
        self._closed = True  # new requests are refused from here on
        self._engine.close(CLOSE_TIMEOUT_S)
        # An embedding or tokenization under way ends first: it runs on what is freed.
        with self._embed_lock, self._reading:
            self._context.close()
            if self._embedder is not None:
                self._embedder.close()
            if self._adapter is not None:
                self._adapter.close()
            _SHARED.give_back(self._weights)


def _shape(trained: int | None, options: LoadOptions, label: str) -> tuple[int, int]:
    """(slots, context per sequence): ``max_num_seqs`` and ``max_model_len`` when set, else
    :data:`SLOTS` and the trained context capped at :data:`MAX_CONTEXT`. A ``max_model_len``
    over the trained context is refused (the model was never trained on positions beyond it),
    and so are more slots than llama.cpp decodes together."""
    slots = options.max_num_seqs or SLOTS
    if slots > max_sequences():
        raise InvalidArgument(
            f"{label}: max_num_seqs {slots} is over the {max_sequences()} sequences llama.cpp "
            "decodes together"
        )
    wanted = options.max_model_len
    if wanted is None:
        return slots, min(trained or MAX_CONTEXT, MAX_CONTEXT)
    if trained and wanted > trained:
        raise InvalidArgument(
            f"{label}: max_model_len {wanted} is over the context the model was trained for "
            f"({trained} tokens)"
        )
    return slots, wanted


def _still_wanted(deadline: float | None, gone: threading.Event | None) -> None:
    """Raise when nobody waits for the embeddings any more: their client left, or their
    deadline passed."""
    if gone is not None and gone.is_set():
        raise Cancelled("the client left before its embeddings were read")
    if deadline is not None and time.monotonic() > deadline:
        raise DeadlineExceeded("the embeddings ran past their deadline")


def _unit(vector: list[float]) -> list[float]:
    """``vector`` scaled to length 1 (as OpenAI's embeddings are)."""
    norm = math.sqrt(sum(v * v for v in vector))
    return [v / norm for v in vector] if norm > 0 else vector


class LlamaCppRuntime:
    """Loads a GGUF model file with llama.cpp."""

    name: ClassVar[str] = "llamacpp"

    def load(self, path: Path, card: ModelCard, options: LoadOptions) -> Model:
        if options.device != "cpu" and not options.device_auto:  # auto: the CPU, as sklearn
            raise Unsupported("the llamacpp runtime runs on the CPU here (built without CUDA)")
        file = model_file(path, card.entrypoint, self.name)
        llm = card.llm
        if llm is None or llm.adapter is None:
            weights = _SHARED.take(file)
            try:
                return LlamaModel(weights, options, card.name)
            except BaseException:
                _SHARED.give_back(weights)
                raise
        if options.base is None:
            raise InvalidArgument(
                f"{card.name} is an adapter over {llm.base}: load it with its base"
            )
        weights = _SHARED.take(options.base)
        adapter: Adapter | None = None
        try:
            adapter = Adapter(weights, file, f"{file.name} over {llm.base}")
            return LlamaModel(weights, options, card.name, adapter)
        except BaseException:
            if adapter is not None:
                adapter.close()
            _SHARED.give_back(weights)
            raise
