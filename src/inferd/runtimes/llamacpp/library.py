"""A typed, thin layer over llama.cpp's C API (through llama-cpp-python's ctypes bindings).

Only this module touches ``llama_cpp``: pointers, ctypes buffers and return codes stay here,
and what leaves is Python ints, bytes and :mod:`inferd.errors` exceptions. A :class:`Weights`
(the model file, mmapped once) can back several :class:`Context` objects, each with its own KV
cache and LoRA adapters: that is how adapters over one base share its weights in memory.

llama.cpp keeps process-wide state (its backend, its logger), set up once by :func:`_backend`.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import llama_cpp as ll
import numpy as np

from inferd.errors import InternalError, InvalidArgument
from inferd.generation import InvalidSampling, Sampling
from inferd.runtimes.llamacpp.grammar import GrammarCache, json_grammar

log = logging.getLogger(__name__)

#: GGUF key of the chat template.
CHAT_TEMPLATE_KEY = b"tokenizer.chat_template"
#: The grammars llama.cpp accepted, by JSON schema (every vocabulary parses them alike).
GRAMMARS = GrammarCache()


@functools.cache
def _backend() -> None:
    ll.llama_backend_init()
    # llama.cpp logs every tensor it loads to stderr; its warnings and errors go to ours.
    ll.llama_log_set(_LOG_CALLBACK, ctypes.c_void_p(0))


@ll.llama_log_callback  # type: ignore[untyped-decorator]  # ctypes' CFUNCTYPE
def _LOG_CALLBACK(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
    if level not in (3, 4):  # GGML_LOG_LEVEL_WARN, _ERROR
        return
    message = text.decode("utf-8", "replace").rstrip()
    # The unified KV cache holds every slot's room, more than one sequence was trained for;
    # inferd holds each sequence to the trained context itself, and asks for mean pooling on
    # purpose (a generative model names none): these warnings are noise.
    quiet = (
        "possible training context overflow" in message
        or "model default pooling_type is" in message
    )
    level_name = logging.DEBUG if quiet else logging.WARNING if level == 3 else logging.ERROR
    log.log(level_name, "llama.cpp: %s", message)


def max_sequences() -> int:
    """The most sequences one llama.cpp context decodes together (``LLAMA_MAX_SEQ``)."""
    return int(ll.llama_max_parallel_sequences())


class Weights:
    """A GGUF model loaded (mmapped) once, and its vocabulary."""

    def __init__(self, path: Path) -> None:
        _backend()
        params = ll.llama_model_default_params()
        params.n_gpu_layers = 0
        model = ll.llama_model_load_from_file(str(path).encode(), params)
        if not model:
            raise InvalidArgument(f"llama.cpp could not load {path.name!r} (see the server log)")
        self._model = model
        self.vocab = ll.llama_model_get_vocab(model)
        self.n_vocab: int = ll.llama_vocab_n_tokens(self.vocab)
        self.context_length: int = ll.llama_model_n_ctx_train(model)
        self.n_embd: int = ll.llama_model_n_embd(model)
        self.chat_template = self._meta(CHAT_TEMPLATE_KEY)
        self.bos = self.piece(ll.llama_vocab_bos(self.vocab), special=True)
        self.eos = self.piece(ll.llama_vocab_eos(self.vocab), special=True)
        #: Whether tokenizing a prompt puts BOS first (``tokenizer.ggml.add_bos_token``).
        self.adds_bos = bool(ll.llama_vocab_get_add_bos(self.vocab))
        self._piece_cache: dict[int, bytes] = {}
        self._lock = threading.Lock()

    @property
    def pointer(self) -> Any:
        return self._model

    def _meta(self, key: bytes) -> str | None:
        size = 1 << 16
        buffer = ctypes.create_string_buffer(size)
        n = ll.llama_model_meta_val_str(self._model, key, buffer, size)
        if n < 0:
            return None
        if n >= size:  # a bigger value than the buffer: ask again with room for it
            buffer = ctypes.create_string_buffer(n + 1)
            ll.llama_model_meta_val_str(self._model, key, buffer, n + 1)
        return buffer.value.decode("utf-8", "replace")

    def tokenize(self, text: str, *, special: bool = True) -> list[int]:
        """Token ids of ``text``; ``special`` adds BOS as the model asks and parses control
        tokens written in the text (as a chat template writes them)."""
        data = text.encode()
        room = len(data) + 8
        tokens = (ll.llama_token * room)()
        n = ll.llama_tokenize(self.vocab, data, len(data), tokens, room, special, special)
        if n < 0:
            room = -n
            tokens = (ll.llama_token * room)()
            n = ll.llama_tokenize(self.vocab, data, len(data), tokens, room, special, special)
        if n < 0:
            raise InternalError("llama.cpp could not tokenize the prompt")
        return list(tokens[:n])

    def piece(self, token: int, *, special: bool = False) -> bytes:
        """The bytes ``token`` stands for (control tokens render as nothing unless
        ``special``)."""
        buffer = ctypes.create_string_buffer(64)
        n = ll.llama_token_to_piece(self.vocab, token, buffer, 64, 0, special)
        if n < 0:
            buffer = ctypes.create_string_buffer(-n)
            n = ll.llama_token_to_piece(self.vocab, token, buffer, -n, 0, special)
        return buffer.raw[: max(n, 0)]

    def output_piece(self, token: int) -> bytes:
        """:meth:`piece` for generated text, cached (a vocabulary is fixed)."""
        found = self._piece_cache.get(token)
        if found is None:
            found = self._piece_cache[token] = self.piece(token)
        return found

    @functools.cached_property
    def longest_piece(self) -> int | None:
        """The most bytes of a prompt one token can stand for (a control token as a template
        writes it; at least 4, a character read as the unknown token), so that a text of n
        bytes is at least n / longest_piece tokens. None where no such bound holds: a
        vocabulary whose unknown token may stand for a run of characters (WPM, UGM…), or one
        with a token that swallows the whitespace beside it (lstrip, rstrip)."""
        if ll.llama_vocab_type(self.vocab) not in (
            ll.LLAMA_VOCAB_TYPE_SPM,
            ll.LLAMA_VOCAB_TYPE_BPE,
        ):
            return None
        strips = ll.LLAMA_TOKEN_ATTR_LSTRIP | ll.LLAMA_TOKEN_ATTR_RSTRIP
        buffer = ctypes.create_string_buffer(256)
        longest = 4
        for token in range(self.n_vocab):
            if ll.llama_vocab_get_attr(self.vocab, token) & strips:
                return None
            n = ll.llama_token_to_piece(self.vocab, token, buffer, 256, 0, True)
            longest = max(longest, abs(n))  # negative: the size a longer piece needs
        return longest

    def grammar(self, schema: str) -> Any:
        """A grammar sampler of answers following the JSON Schema ``schema``, converted as
        llama.cpp's ``json_schema_to_grammar`` converts it (InvalidSampling, param
        ``response_format``, when it cannot be). Free it, or hand it to a chain."""
        text = GRAMMARS.get(schema)
        converted = json_grammar(schema) if text is None else text
        grammar = ll.llama_sampler_init_grammar(self.vocab, converted, b"root")
        if not grammar:
            raise InvalidSampling("response_format", "llama.cpp cannot follow this JSON schema")
        if text is None:
            GRAMMARS.put(schema, converted)
        return grammar

    @property
    def end_token(self) -> int:
        """An end-of-generation token (EOS, else EOT)."""
        eos = ll.llama_vocab_eos(self.vocab)
        return int(eos if eos >= 0 else ll.llama_vocab_eot(self.vocab))

    def check_grammar(self, schema: str) -> None:
        """Refuse ``schema`` as :meth:`grammar` would, before a generation is queued; at once
        for one it accepted before (cached)."""
        if GRAMMARS.get(schema) is None:
            ll.llama_sampler_free(self.grammar(schema))

    def is_end(self, token: int) -> bool:
        """An end-of-generation token (EOS, EOT, ``<|im_end|>``…)."""
        return bool(ll.llama_vocab_is_eog(self.vocab, token))

    def close(self) -> None:
        with self._lock:
            if self._model:
                ll.llama_model_free(self._model)
                self._model = None


class Adapter:
    """A LoRA adapter (GGUF) over one :class:`Weights`."""

    def __init__(self, weights: Weights, path: Path, what: str) -> None:
        self.weights = weights
        adapter = ll.llama_adapter_lora_init(weights.pointer, str(path).encode())
        if not adapter:
            raise InvalidArgument(
                f"llama.cpp could not apply the LoRA adapter {what} (see the server log)"
            )
        self.pointer = adapter

    def close(self) -> None:
        if self.pointer:
            ll.llama_adapter_lora_free(self.pointer)
            self.pointer = None


class Context:
    """A llama.cpp context: a KV cache of ``cells`` tokens shared by ``slots`` sequences of at
    most ``per_slot`` tokens each, and a batch of up to ``batch`` tokens. Use it from one
    thread at a time."""

    def __init__(
        self,
        weights: Weights,
        *,
        slots: int,
        per_slot: int,
        cells: int,
        batch: int,
        threads: int,
        embeddings: bool = False,
        adapter: Adapter | None = None,
        adapter_scale: float = 1.0,
    ) -> None:
        params = ll.llama_context_default_params()
        params.n_ctx = cells
        params.n_batch = batch
        params.n_ubatch = batch
        params.n_seq_max = slots
        if threads > 0:
            params.n_threads = params.n_threads_batch = threads
        params.no_perf = True
        # One KV cache shared by every sequence (llama-server's default with several slots):
        # with a cache split per sequence, 8 sequences decoded slower than 4.
        params.kv_unified = True
        if embeddings:
            params.embeddings = True
            params.pooling_type = ll.LLAMA_POOLING_TYPE_MEAN
        ctx = ll.llama_init_from_model(weights.pointer, params)
        if not ctx:
            raise InternalError("llama.cpp could not create a context (see the server log)")
        self._ctx = ctx
        self.weights = weights
        self.slots = slots
        self.cells = cells
        #: A sequence's own limit (inferd enforces it: the unified cache would let one sequence
        #: take every slot's room).
        self.per_slot = per_slot
        self.batch_size = batch
        self._memory = ll.llama_get_memory(ctx)
        if adapter is not None:
            adapters = (ll.llama_adapter_lora_p_ctypes * 1)(adapter.pointer)
            scales = (ctypes.c_float * 1)(adapter_scale)
            if ll.llama_set_adapters_lora(ctx, adapters, 1, scales) != 0:
                ll.llama_free(ctx)
                raise InvalidArgument("llama.cpp refused to apply the LoRA adapter")
        self._batch = ll.llama_batch_init(batch, 0, 1)
        self.n = 0

    def clear_batch(self) -> None:
        self.n = 0

    def add(self, token: int, position: int, sequence: int, logits: bool) -> int:
        """Append one token to the batch; returns its index (to sample from when ``logits``)."""
        b, i = self._batch, self.n
        b.token[i] = token
        b.pos[i] = position
        b.n_seq_id[i] = 1
        b.seq_id[i][0] = sequence
        b.logits[i] = logits
        self.n = i + 1
        return i

    def decode(self) -> None:
        """Run the batch. Raises InternalError when llama.cpp cannot (no room in the cache)."""
        self._batch.n_tokens = self.n
        code = ll.llama_decode(self._ctx, self._batch)
        if code != 0:
            raise InternalError(f"llama.cpp could not decode a batch (code {code})")

    def forget(self, sequence: int, start: int = 0) -> bool:
        """Drop a sequence's tokens from position ``start`` on from the KV cache; False when
        the cache cannot drop only a tail (recurrent models: drop all of it instead)."""
        return bool(ll.llama_memory_seq_rm(self._memory, sequence, start if start else -1, -1))

    def share(self, source: int, target: int, length: int) -> None:
        """Give sequence ``target`` the first ``length`` tokens of ``source`` (the unified
        cache marks the cells as belonging to both: nothing is copied)."""
        ll.llama_memory_seq_cp(self._memory, source, target, 0, length)

    def sampler(self, sampling: Sampling, seed: int, prompt: Sequence[int]) -> Sampler:
        return Sampler(self, sampling, seed, prompt)

    def embedding(self, sequence: int) -> list[float]:
        """The pooled embedding of ``sequence`` after :meth:`decode`."""
        pointer = ll.llama_get_embeddings_seq(self._ctx, sequence)
        if not pointer:
            raise InternalError("llama.cpp gave no embedding for the input")
        return list(pointer[: self.weights.n_embd])

    @property
    def pointer(self) -> Any:
        return self._ctx

    def close(self) -> None:
        if self._ctx:
            ll.llama_batch_free(self._batch)
            ll.llama_free(self._ctx)
            self._ctx = None


#: The seed llama.cpp reads as "draw a random seed" (``LLAMA_DEFAULT_SEED``). A request's
#: 64-bit seed is reduced modulo this value, so that no seed (-1, 2**32 - 1…) lands on it and
#: loses its repeatability; seeds from 0 to 2**32 - 2 are passed as they are.
RANDOM_SEED = 0xFFFFFFFF


class Sampler:
    """One sequence's sampler chain: logit bias, the repetition penalty (over the prompt and
    the answer), the presence and frequency penalties (over the answer only), then greedy
    (temperature 0) or top-k, top-p, min-p, temperature and a seeded draw (llama.cpp's order).
    The seed makes the draws repeatable."""

    def __init__(self, ctx: Context, sampling: Sampling, seed: int, prompt: Sequence[int]) -> None:
        params = ll.llama_sampler_chain_default_params()
        chain = ll.llama_sampler_chain_init(params)
        add = functools.partial(ll.llama_sampler_chain_add, chain)
        if bias := sampling.logit_bias:
            items = (ll.llama_logit_bias * len(bias))()
            for item, (token, value) in zip(items, bias.items(), strict=True):
                item.token, item.bias = token, value
            add(ll.llama_sampler_init_logit_bias(ctx.weights.n_vocab, len(bias), items))
        #: With a grammar, the chain is applied here (see :meth:`sample`) over these cells.
        self._cells: Any = None
        if sampling.json_schema is not None:  # only tokens that keep the answer in the schema
            add(ctx.weights.grammar(sampling.json_schema))
            self._cells = (ll.llama_token_data * ctx.weights.n_vocab)()
        n_vocab, last_n = ctx.weights.n_vocab, ctx.per_slot
        if sampling.repetition_penalty != 1:
            repetition = ll.llama_sampler_init_penalties(
                n_vocab, last_n, sampling.repetition_penalty, 0, 0
            )
            for token in prompt:  # it counts the prompt's tokens too, as vLLM's does
                ll.llama_sampler_accept(repetition, token)
            add(repetition)
        if sampling.presence_penalty or sampling.frequency_penalty:
            # A penalties sampler of its own, which counts only the answer's tokens (accepted
            # by the chain as they are sampled), as OpenAI and vLLM count these two.
            frequency, presence = sampling.frequency_penalty, sampling.presence_penalty
            add(ll.llama_sampler_init_penalties(n_vocab, last_n, 1, frequency, presence))
        if sampling.temperature <= 0:
            add(ll.llama_sampler_init_greedy())
        else:
            # A top_k of the vocabulary or more is every token: no top-k, whose sort would
            # change the seeded draw (and whose k is a 32-bit int in C).
            if 0 < sampling.top_k < ctx.weights.n_vocab:
                add(ll.llama_sampler_init_top_k(sampling.top_k))
            if sampling.top_p < 1:
                add(ll.llama_sampler_init_top_p(sampling.top_p, 1))
            if sampling.min_p > 0:
                add(ll.llama_sampler_init_min_p(sampling.min_p, 1))
            add(ll.llama_sampler_init_temp(sampling.temperature))
            add(ll.llama_sampler_init_dist(seed % RANDOM_SEED))
        self._chain = chain
        self._ctx = ctx

    def sample(self, index: int) -> int:
        """Pick the next token from the logits at batch position ``index`` (and accept it)."""
        if self._cells is None:
            return int(ll.llama_sampler_sample(self._chain, self._ctx.pointer, index))
        # llama_sampler_sample, except that a token the grammar forbids is never accepted (llama.cpp
        # aborts the process): where a schema admits nothing next (an empty character class),
        # only forbidden tokens are left, and the answer ends there, as at an end token.
        n_vocab = self._ctx.weights.n_vocab
        cells = np.ctypeslib.as_array(self._cells)
        cells["id"] = np.arange(n_vocab)
        logits = ll.llama_get_logits_ith(self._ctx.pointer, index)
        cells["logit"] = np.ctypeslib.as_array(logits, shape=(n_vocab,))
        cells["p"] = 0
        candidates = ll.llama_token_data_array(self._cells, n_vocab, -1, False)
        ll.llama_sampler_apply(self._chain, ctypes.byref(candidates))
        chosen = candidates.data[candidates.selected]
        if not math.isfinite(chosen.logit):  # forbidden: nothing is allowed
            return self._ctx.weights.end_token
        ll.llama_sampler_accept(self._chain, chosen.id)
        return int(chosen.id)

    def close(self) -> None:
        if self._chain:
            ll.llama_sampler_free(self._chain)
            self._chain = None
