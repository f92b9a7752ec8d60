"""Generations served: a language-model version's :class:`~inferd.generation.TextGenerator`,
with every generation measured (time to first token, time per output token, duration, tokens,
how it ended).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import weakref
from collections.abc import AsyncIterator, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from inferd.errors import Cancelled, DeadlineExceeded, InferdError
from inferd.generation import Chunk, FinishReason, Generation, Message, Sampling, TextGenerator
from inferd.observe.llm_metrics import GenerationSeries, LlmMetrics, Operation

#: A card label (milliseconds) that slows every generated token of the version down, for tests
#: of rollouts judged on latency (docs/rollouts.md#language-models). Never set it in production.
TEST_SLOWDOWN_LABEL = "inferd.dev/test-token-delay-ms"


@runtime_checkable
class SamplingCheck(Protocol):
    """A generator with sampling that takes time to prepare (a JSON schema's grammar), which
    :meth:`check_sampling` does, blocking, so that ``generate`` on the loop finds it done."""

    def check_sampling(self, sampling: Sampling) -> None: ...


@dataclass(frozen=True, slots=True)
class ServedGenerator:
    """One READY language-model version, as protocols use it."""

    model: str
    version: str
    generator: TextGenerator
    metrics: LlmMetrics
    #: When the version's card was created or the model loaded (OpenAI's ``created``).
    created: int
    #: Test-only: seconds each generated token is held back before it is delivered (the card
    #: label :data:`TEST_SLOWDOWN_LABEL`), to roll out a deliberately slow version.
    token_delay_s: float = 0.0
    #: The data plane's generations under way, which its drain waits for (None: not counted).
    running: RunningGenerations | None = None

    async def chat_prompt(
        self, messages: Sequence[Message], template_kwargs: Mapping[str, object] | None = None
    ) -> str:
        """The prompt the model's chat template makes of ``messages``, with a request's
        ``template_kwargs`` (vLLM's ``chat_template_kwargs``) as more variables; rendered off
        the event loop (a template over thousands of messages takes a while)."""
        return await asyncio.to_thread(self.generator.chat_prompt, messages, template_kwargs)

    async def check(self, sampling: Sampling) -> None:
        """Prepare ``sampling`` off the event loop where the generator has such work (a JSON
        schema's grammar: :class:`SamplingCheck`), refusing it as :meth:`generate` would."""
        if sampling.json_schema is not None and isinstance(self.generator, SamplingCheck):
            await asyncio.to_thread(self.generator.check_sampling, sampling)

    def generate(
        self,
        prompt: str,
        sampling: Sampling,
        operation: Operation,
        deadline: float | None = None,
    ) -> MeteredGeneration:
        """Queue a generation (see :meth:`TextGenerator.generate` for what it raises)."""
        started = time.monotonic()
        series = self.metrics.bind(self.model, self.version, operation)
        try:
            inner = self.generator.generate(prompt, sampling, deadline)
        except InferdError:
            series.endings["rejected"].inc()
            raise
        return MeteredGeneration(inner, series, started, self.token_delay_s, self.running)

    async def embed(
        self, texts: Sequence[str], deadline: float | None = None
    ) -> tuple[list[list[float]], int]:
        """Embeddings of ``texts`` (computed off the event loop) and the tokens read.
        DeadlineExceeded once ``deadline`` (on ``time.monotonic()``) passes; cancelled (the
        client left), the model stops before its next text rather than read them all."""
        started = time.monotonic()
        series = self.metrics.bind(self.model, self.version, "embeddings")
        gone = threading.Event()
        try:
            async with _embedding_turn(self.generator, deadline):
                vectors, tokens = await asyncio.to_thread(
                    self.generator.embed, list(texts), deadline, gone
                )
        except asyncio.CancelledError:
            gone.set()
            series.endings["cancelled"].inc()
            raise
        except DeadlineExceeded:
            series.endings["error"].inc()
            raise
        series.duration.observe(time.monotonic() - started)
        series.input_tokens.inc(tokens)
        series.endings["stop"].inc()
        return vectors, tokens


#: Per event loop and generator, the turn of its embeddings: they wait for the version's one
#: embedding context here, on the loop, not in one of the loop's few default threads (6 on 2
#: cores), which a queue of embeddings on one version held, stalling every other version's
#: embeddings and the loads, unloads and big bodies handed to those threads.
_TURNS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, weakref.WeakKeyDictionary[TextGenerator, asyncio.Lock]
] = weakref.WeakKeyDictionary()


@contextlib.asynccontextmanager
async def _embedding_turn(generator: TextGenerator, deadline: float | None) -> AsyncIterator[None]:
    """Wait for ``generator``'s previous embeddings to end, until ``deadline`` at most."""
    turns = _TURNS.setdefault(asyncio.get_running_loop(), weakref.WeakKeyDictionary())
    try:
        turn = turns.setdefault(generator, asyncio.Lock())
    except TypeError:  # not weakly referable: the generator's own lock alone orders them
        yield
        return
    if not turn.locked():
        await turn.acquire()  # at once: the deadline is the model's to check
    else:
        wait = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        try:
            await asyncio.wait_for(turn.acquire(), wait)
        except TimeoutError:
            raise DeadlineExceeded(
                "the embeddings waited for the model past their deadline"
            ) from None
    try:
        yield
    finally:
        turn.release()


class MeteredGeneration:
    """A :class:`~inferd.generation.Generation` whose chunks are timed as they pass."""

    def __init__(
        self,
        inner: Generation,
        series: GenerationSeries,
        started: float,
        delay_s: float = 0.0,
        running: RunningGenerations | None = None,
    ) -> None:
        self._inner = inner
        self._series = series
        self._started = started
        self._delay_s = delay_s
        self._running = running
        #: Why it was stopped (:meth:`stop`): raised to its reader in place of what follows.
        self._stopped: InferdError | None = None

    @property
    def prompt_tokens(self) -> int:
        return self._inner.prompt_tokens

    @property
    def completion_tokens(self) -> int:
        return self._inner.completion_tokens

    @property
    def cached_tokens(self) -> int:
        return self._inner.cached_tokens

    @property
    def tokens_after_cancel(self) -> int:
        return self._inner.tokens_after_cancel

    @property
    def finish_reason(self) -> FinishReason | None:
        return self._inner.finish_reason

    def cancel(self) -> None:
        self._inner.cancel()

    def stop(self, error: InferdError) -> None:
        """End it for the server's sake (its drain timed out): the engine is told to cancel,
        and its reader gets ``error`` in place of the chunks that were still to come (a stream
        sends it as its error event, then ends properly)."""
        if self._stopped is None:
            self._stopped = error
            self._inner.cancel()

    async def __aiter__(self) -> AsyncIterator[Chunk]:
        series = self._series
        first: float | None = None
        ending = "cancelled"
        counted = 0  # output tokens counted so far: as they come, so rate() is smooth
        if self._running is not None:
            self._running.add(self)
        try:
            async for chunk in self._inner:
                if self._delay_s and chunk.tokens:
                    await asyncio.sleep(self._delay_s * chunk.tokens)
                if self._stopped is not None:
                    break
                if first is None and chunk.tokens:
                    first = time.monotonic()
                    series.time_to_first_token.observe(first - self._started)
                    series.input_tokens.inc(self._inner.prompt_tokens)
                series.output_tokens.inc(chunk.tokens)
                counted += chunk.tokens
                yield chunk
            if self._stopped is not None:
                raise self._stopped
            ending = self._inner.finish_reason or "stop"
        except Cancelled:
            if self._stopped is None:
                raise
            ending = "error"
            raise self._stopped from None
        except InferdError:
            ending = "error"
            raise
        finally:
            if self._running is not None:
                self._running.discard(self)
            now = time.monotonic()
            series.duration.observe(now - self._started)
            if first is None:  # no token came: the prompt was read (or not) all the same
                series.input_tokens.inc(self._inner.prompt_tokens)
            series.endings[ending].inc()
            if ending == "cancelled":
                self._inner.cancel()
                _settle_later(self._settle(counted))
            else:
                done = self._inner.completion_tokens
                series.output_tokens.inc(max(done - counted, 0))
                if first is not None and done > 1 and ending in ("stop", "length"):
                    series.time_per_output_token.observe((now - first) / (done - 1))

    async def _settle(self, counted: int) -> None:
        """Count the tokens of a cancelled generation once it has left the engine: those
        decoded beyond the ``counted`` its client took (queued, or decoded after the cancel)."""
        try:
            async for _ in self._inner:
                pass
        except InferdError:  # the engine stopped while the cancel was on its way
            pass
        series = self._series
        series.output_tokens.inc(max(self._inner.completion_tokens - counted, 0))
        series.tokens_after_cancel.inc(self._inner.tokens_after_cancel)


class RunningGenerations:
    """The generations under way in one data plane: its drain waits for them, and at its
    timeout stops each with an error its protocol can still send."""

    def __init__(self) -> None:
        self._running: set[MeteredGeneration] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    def __len__(self) -> int:
        return len(self._running)

    def add(self, generation: MeteredGeneration) -> None:
        self._running.add(generation)
        self._idle.clear()

    def discard(self, generation: MeteredGeneration) -> None:
        self._running.discard(generation)
        if not self._running:
            self._idle.set()

    async def idle(self) -> None:
        """Return once none is running."""
        await self._idle.wait()

    def stop(self, error: InferdError) -> None:
        """Stop every one still running with ``error`` (:meth:`MeteredGeneration.stop`)."""
        for generation in list(self._running):
            generation.stop(error)


#: Settling cancelled generations, held so that the loop does not drop their tasks.
_SETTLING: set[asyncio.Task[None]] = set()


def _settle_later(settle: Coroutine[None, None, None]) -> None:
    task = asyncio.get_running_loop().create_task(settle)
    _SETTLING.add(task)
    task.add_done_callback(_SETTLING.discard)
