"""An in-process data plane with scripted language models, behind the real router and HTTP
server (real sockets), for the OpenAI and generate routes' wire behaviour.

``parrot`` says :data:`WORDS`, one per chunk with an empty chunk before each (as a token ending
inside a UTF-8 character gives), up to ``max_tokens`` chunks of text, then ``stop``.
``stuck`` says its first word and then waits until it is cancelled (its embeddings wait for
their client to leave). ``failing`` says its first word and then fails (its deadline passed).
The real model behind these routes is tested with the official client in
``test_openai_client.py``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import pytest
from openai.types import Completion, CompletionUsage
from prometheus_client import CollectorRegistry

from inferd.errors import Cancelled, DeadlineExceeded, InvalidArgument, ModelNotFound
from inferd.generation import (
    Chunk,
    FinishReason,
    Generation,
    InvalidSampling,
    Message,
    Sampling,
)
from inferd.observe.llm_metrics import LlmMetrics
from inferd.protocols.http.host import HttpLimits
from inferd.protocols.v2.routes import data_router
from inferd.serving.generation import ServedGenerator
from inferd.serving.types import ListedModel
from protocols.conftest import TEST_LIMITS, FakeDataPlane, Running, _finish, _start, metrics_text

WORDS = ("Hello", " there", ",", " friend", ".")
#: The request timeout the scripted data plane's router is given, per model.
TIMEOUT_S = 7.0
CREATED = 1_700_000_000
#: Tokens the scripted models know (a token is a word's length).
VOCABULARY = 1000


@dataclass
class Asked:
    """One generate call: what it was given, and how it ended."""

    prompt: str
    sampling: Sampling
    deadline: float | None
    cancelled: threading.Event = field(default_factory=threading.Event)


@dataclass
class Embedded:
    """One embed call: the texts, the deadline and the event set when its client left."""

    texts: list[str]
    deadline: float | None
    gone: threading.Event | None


class ScriptedGeneration:
    def __init__(self, behaviour: str, asked: Asked) -> None:
        self._behaviour = behaviour
        self._asked = asked
        self._finish: FinishReason | None = None
        self._sent = 0
        self._wake = asyncio.Event()

    @property
    def prompt_tokens(self) -> int:
        return len(self._asked.prompt.split())

    @property
    def completion_tokens(self) -> int:
        return self._sent

    @property
    def cached_tokens(self) -> int:
        return 1

    @property
    def tokens_after_cancel(self) -> int:
        return 0

    @property
    def finish_reason(self) -> FinishReason | None:
        return self._finish

    def cancel(self) -> None:
        if self._finish is None:
            self._asked.cancelled.set()
            self._wake.set()

    async def __aiter__(self) -> AsyncIterator[Chunk]:
        limit = self._asked.sampling.max_tokens or len(WORDS)
        for word in WORDS[:limit]:
            if self._asked.cancelled.is_set():
                return
            yield Chunk("", 1)
            self._sent += 1
            yield Chunk(word, 1)
            if self._behaviour == "stuck":
                await self._wake.wait()
                return
            if self._behaviour == "failing":
                raise DeadlineExceeded("the generation ran past its deadline")
        self._finish = "length" if limit < len(WORDS) else "stop"


class ScriptedGenerator:
    """A :class:`~inferd.generation.TextGenerator` that records what it is asked."""

    def __init__(self, behaviour: str, embeddings: bool = True) -> None:
        self.behaviour = behaviour
        self.asked: list[Asked] = []
        self.embedded: list[Embedded] = []
        self._embeddings = embeddings

    @property
    def context_length(self) -> int:
        return 64

    @property
    def embeddings(self) -> bool:
        return self._embeddings

    def chat_prompt(
        self, messages: Sequence[Message], template_kwargs: Mapping[str, object] | None = None
    ) -> str:
        """The messages, then the template's variables as ``<name=value>``, then the answer's
        place."""
        said = "".join(f"<{m.role}>{m.content}" for m in messages)
        added = "".join(f"<{k}={v!r}>" for k, v in (template_kwargs or {}).items())
        return said + added + "<assistant>"

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def tokenize(self, text: str) -> list[int]:
        """One token per word: its length."""
        return [len(word) for word in text.split()]

    def detokenize(self, tokens: Sequence[int]) -> str:
        """A word of ``token`` letters each: the vocabulary is :data:`VOCABULARY` tokens, as a
        real model's is bounded (a huge word would be gigabytes)."""
        for i, token in enumerate(tokens):
            if token >= VOCABULARY:
                raise InvalidSampling(f"tokens[{i}]", f"token {token} is outside the vocabulary")
        return " ".join("x" * token for token in tokens)

    def generate(
        self, prompt: str, sampling: Sampling, deadline: float | None = None
    ) -> Generation:
        if sampling.max_tokens is not None and sampling.max_tokens > self.context_length:
            raise InvalidArgument(
                f"max_tokens is {sampling.max_tokens}: over the context of {self.context_length}"
            )
        asked = Asked(prompt, sampling, deadline)
        self.asked.append(asked)
        return ScriptedGeneration(self.behaviour, asked)

    def embed(
        self,
        texts: Sequence[str],
        deadline: float | None = None,
        gone: threading.Event | None = None,
    ) -> tuple[list[list[float]], int]:
        self.embedded.append(Embedded(list(texts), deadline, gone))
        if self.behaviour == "stuck":  # reads until its client leaves
            assert gone is not None and gone.wait(10), "the embeddings went on after the client"
            raise Cancelled("the client left")
        return [[0.5, -0.25, float(len(t))] for t in texts], sum(len(t.split()) for t in texts)

    def load(self) -> tuple[int, int]:
        return 0, 0

    def occupancy(self) -> tuple[int, float]:
        return 0, 0.0


class LlmDataPlane(FakeDataPlane):
    """The protocols' fake data plane (``echo``, ``sum``… are not language models) with the
    scripted language models ``parrot``, ``stuck``, ``failing`` and ``plain`` (not loaded for
    embeddings), version ``"3"``."""

    def __init__(self) -> None:
        super().__init__()
        self.metrics = LlmMetrics(CollectorRegistry())
        self.llms = {
            name: ScriptedGenerator(name, embeddings=name != "plain")
            for name in ("parrot", "stuck", "failing", "plain")
        }

    def served(self, name: str) -> ServedGenerator:
        return ServedGenerator(name, "3", self.llms[name], self.metrics, CREATED)

    async def generator(self, name: str, version: str | None = None) -> ServedGenerator:
        if name not in self.llms:
            return await super().generator(name, version)
        if version not in (None, "3"):
            raise ModelNotFound(name, version)
        return self.served(name)

    def generators(self) -> list[ListedModel]:
        return [ListedModel(name, CREATED) for name in self.llms]


@dataclass
class StreamRead:
    """A streamed text completion as read: each choice's text and finish reason by index, and
    the usage of its last chunk (None: it sent none)."""

    texts: dict[int, str] = field(default_factory=dict)
    finished: dict[int, str] = field(default_factory=dict)
    usage: CompletionUsage | None = None


def read_text_stream(stream: Iterable[Completion]) -> StreamRead:
    """Read a text completion's stream, checking that each choice ends once, last, and that
    the usage comes alone in a chunk of no choices."""
    read = StreamRead()
    for chunk in stream:
        if chunk.usage is not None:
            assert chunk.choices == []
            read.usage = chunk.usage
            continue
        (choice,) = chunk.choices
        assert choice.index not in read.finished, "a chunk after its choice's finish reason"
        read.texts[choice.index] = read.texts.get(choice.index, "") + choice.text
        if choice.finish_reason is not None:
            read.finished[choice.index] = choice.finish_reason
    return read


@pytest.fixture
def llm_server() -> Iterator[Running]:
    """A data-plane listener over a fresh :class:`LlmDataPlane`, whose router gives every
    model a request timeout of :data:`TIMEOUT_S`."""
    dataplane = LlmDataPlane()
    timeout: Callable[[str], float] = lambda model: TIMEOUT_S  # noqa: E731
    router = data_router(dataplane, TEST_LIMITS, metrics_text, request_timeout=timeout)
    running, thread = _start(router, HttpLimits.from_settings(TEST_LIMITS), dataplane)
    yield running
    _finish(running, thread)
