"""The contract between a generative model and the protocols that serve it (OpenAI's API, the
OIP generate extension).

A runtime that serves a language model (``llamacpp``) returns a model that is also a
:class:`TextGenerator`; serving finds it on a READY version and wraps each :class:`Generation`
with the LLM metrics; protocols turn requests into :class:`Sampling` and chunks into their wire
format. It lives in the kernel because all three layers speak it and none may import another's.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from inferd.errors import InvalidArgument


class InvalidSampling(InvalidArgument):
    """A sampling parameter the model cannot take (a ``logit_bias`` token outside its
    vocabulary); ``param`` names it as the protocols spell it, for their errors to point at."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


#: What a runtime gives a chat template itself, as Hugging Face's ``apply_chat_template`` does: a
#: request's ``chat_template_kwargs`` (vLLM's, llama-server's) may add variables, not set these.
TEMPLATE_VARIABLES = (
    "messages",
    "add_generation_prompt",
    "bos_token",
    "eos_token",
    "raise_exception",
    "strftime_now",
)

#: Why a generation ended: a stop condition (end-of-generation token or a ``stop`` string), or
#: ``max_tokens`` (or the context) reached. A cancelled generation has no finish reason.
FinishReason = Literal["stop", "length"]


@dataclass(frozen=True, slots=True)
class Sampling:
    """How to pick tokens. ``temperature`` 0 is greedy (deterministic); otherwise ``seed``
    makes sampling repeatable (None: a fresh seed)."""

    temperature: float = 1.0
    top_p: float = 1.0
    #: Tokens to generate at most; None: up to the end of the context.
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    #: Token id → bias added to its logit (OpenAI's ``logit_bias``; -100 bans a token).
    logit_bias: Mapping[int, float] = field(default_factory=dict)
    #: vLLM's: the ``top_k`` likeliest tokens only (0: all), tokens at least ``min_p`` times as
    #: likely as the likeliest only (0: all), and logits of tokens already in the prompt or the
    #: answer divided by ``repetition_penalty`` (multiplied when negative; 1: none).
    top_k: int = 0
    min_p: float = 0.0
    repetition_penalty: float = 1.0
    #: OpenAI's: subtracted from the logit of every token already in the answer (not the prompt,
    #: as OpenAI and vLLM count), ``presence_penalty`` once and ``frequency_penalty`` once per
    #: time it appeared (0: none; negative values favour repeating).
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    #: vLLM's: an end-of-generation token does not end the answer (it runs to ``max_tokens``).
    ignore_eos: bool = False
    #: OpenAI's ``response_format``: the answer follows this JSON Schema (JSON text; None: any
    #: text).
    json_schema: str | None = None


@dataclass(frozen=True, slots=True)
class Chunk:
    """Text generated since the previous chunk, and how many tokens produced it (a token can
    end inside a UTF-8 character, so a chunk may carry tokens and no text yet)."""

    text: str
    tokens: int


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message: ``system``, ``user``, ``assistant`` or ``tool``, and the name of its
    author when the client gave one (OpenAI's ``name``: the chat template may write it)."""

    role: str
    content: str
    name: str | None = None


class Generation(Protocol):
    """One running generation. Iterate it for chunks; it ends when the model stops (then
    :attr:`finish_reason` is set) and raises an :class:`~inferd.errors.InferdError` if it
    fails (a deadline, an engine stopped). :meth:`cancel` stops it at the next step and frees
    its slot; closing the iterator early cancels too. Iterated again after a cancel, it gives
    what was decoded before it stopped and ends once it has: then :attr:`completion_tokens`
    counts every token decoded, and :attr:`tokens_after_cancel` those decoded after the cancel."""

    @property
    def prompt_tokens(self) -> int: ...

    @property
    def completion_tokens(self) -> int: ...

    @property
    def cached_tokens(self) -> int:
        """Prompt tokens found in the cache, not read again (OpenAI's
        ``usage.prompt_tokens_details.cached_tokens``)."""
        ...

    @property
    def tokens_after_cancel(self) -> int:
        """Tokens decoded after :meth:`cancel` (the step already running when it came)."""
        ...

    @property
    def finish_reason(self) -> FinishReason | None: ...

    def __aiter__(self) -> AsyncIterator[Chunk]: ...

    def cancel(self) -> None: ...


@runtime_checkable
class TokenCodec(Protocol):
    """A language model that shows its tokens (vLLM's ``/tokenize`` and ``/detokenize``).
    Both block (call them off the loop)."""

    def tokenize(self, text: str) -> list[int]:
        """The tokens the model reads for the prompt ``text`` (BOS included where it adds one),
        as :meth:`TextGenerator.generate` reads it."""
        ...

    def detokenize(self, tokens: Sequence[int]) -> str:
        """The text of ``tokens``, control tokens written out (InvalidSampling, param
        ``tokens[i]``, for one outside the vocabulary)."""
        ...


@runtime_checkable
class TextGenerator(Protocol):
    """A loaded language model. :meth:`generate` is called on the event loop and must not
    block; :meth:`embed` blocks (call it off the loop)."""

    @property
    def context_length(self) -> int: ...

    @property
    def embeddings(self) -> bool:
        """Whether :meth:`embed` works (the model was loaded for embedding)."""
        ...

    def chat_prompt(
        self, messages: Sequence[Message], template_kwargs: Mapping[str, object] | None = None
    ) -> str:
        """The prompt the model's chat template makes of ``messages``, with ``template_kwargs``
        as more variables (none of :data:`TEMPLATE_VARIABLES`); InvalidArgument when the model
        has no template."""
        ...

    def count_tokens(self, text: str) -> int: ...

    def generate(
        self, prompt: str, sampling: Sampling, deadline: float | None = None
    ) -> Generation:
        """Queue a generation. Raises InvalidArgument when the prompt and ``max_tokens`` do not
        fit the context (naming the numbers), Unavailable when the queue is full."""
        ...

    def embed(
        self,
        texts: Sequence[str],
        deadline: float | None = None,
        gone: threading.Event | None = None,
    ) -> tuple[list[list[float]], int]:
        """One embedding per text and the tokens read (Unsupported unless :attr:`embeddings`).
        Before each text it raises DeadlineExceeded once ``deadline`` (on ``time.monotonic()``)
        has passed, and Cancelled once ``gone`` is set (the client left)."""
        ...

    def load(self) -> tuple[int, int]:
        """Generations (running, waiting) right now."""
        ...

    def occupancy(self) -> tuple[int, float]:
        """Tokens the running and waiting generations may hold (each one's prompt plus
        ``max_tokens``), and the share of the KV cache the running ones reserved."""
        ...
