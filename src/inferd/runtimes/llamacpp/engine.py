"""Continuous batching on llama.cpp: many generations decoded together, one llama.cpp batch per
step, on one thread of its own.

Policy, per step (``_step``):

1. Cancelled generations (client gone) and those past their deadline leave first, waiting or
   running; a running one's sequence leaves the KV cache and its slot is free at once.
2. Waiting generations take free slots, oldest first (a bounded queue: a full one is 503).
   A free slot keeps the tokens of the generation that last used it in the KV cache; a new
   generation reads only the part of its prompt that no sequence in the cache (kept or
   running) already holds: the shared prefix is reused in place or shared into its slot
   (prefix caching, as llama-server's ``cache_prompt``: a repeated system prompt or chat
   history is not read again, even by requests that arrive together).
3. The batch gets one token for every generation that is decoding, then as many prompt tokens
   as still fit (prefill, in pieces of at most ``batch`` tokens). Decoding first keeps the
   inter-token latency of running generations steady while a long prompt is read; a new
   request joins the next step and never waits for the others to finish.
4. One ``llama_decode`` runs the batch; each generation that asked for logits samples its next
   token with its own sampler chain (its own seed), then text is decoded incrementally (a token
   may end inside a UTF-8 character) and held back while it could be the start of a ``stop``
   string. A batch llama.cpp cannot decode fails its generations; the engine goes on.

Invariants: a slot is either free or owned by exactly one generation; a slot's KV cache holds
exactly the tokens listed for it (``_Job.cached`` while owned, ``Engine._kept`` while free), at
positions 0…n-1; every generation ends with exactly one :class:`~.stream.Ended`. A sequence's
own context is ``per_slot`` tokens (a prompt plus ``max_tokens`` over it is refused before it
queues).
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from inferd.errors import (
    ContextLengthExceeded,
    DeadlineExceeded,
    InferdError,
    InternalError,
    InvalidArgument,
    Unavailable,
)
from inferd.generation import Chunk, InvalidSampling, Sampling
from inferd.runtimes.llamacpp.library import Context, Sampler, Weights
from inferd.runtimes.llamacpp.stream import Ended, StopScan, TokenStream

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Job:
    """One generation inside the engine (engine thread only, but for ``stream.cancelled``)."""

    prompt: list[int]
    sampling: Sampling
    max_tokens: int
    deadline: float | None
    stream: TokenStream
    slot: int = -1
    fed: int = 0
    position: int = 0
    #: The tokens in the KV cache under this generation's slot, in position order.
    cached: list[int] = field(default_factory=list)
    last: int = -1
    generated: int = 0
    #: Tokens sampled after the stream was cancelled (the step already running when it came).
    after_cancel: int = 0
    #: Tokens whose text has not been delivered yet (held back or mid-character).
    unsent_tokens: int = 0
    text: str = ""
    sampler: Sampler | None = None
    stops: StopScan = field(default_factory=lambda: StopScan(()))
    decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")("replace")
    )

    @property
    def reserve(self) -> int:
        """KV cells this generation may fill: its prompt and every token it may generate."""
        return len(self.prompt) + self.max_tokens

    @property
    def decoding(self) -> bool:
        return self.fed == len(self.prompt)


class Engine:
    """Runs generations on one :class:`Context` with ``slots`` sequences."""

    def __init__(self, weights: Weights, context: Context, max_waiting: int, label: str) -> None:
        self.weights = weights
        self.context = context
        self.max_waiting = max_waiting
        self._label = label
        self._cond = threading.Condition()
        self._waiting: deque[_Job] = deque()
        self._active: list[_Job] = []
        self._free = list(range(context.slots - 1, -1, -1))
        #: Free slot → the tokens its KV cache still holds (reused by a matching prompt).
        self._kept: dict[int, list[int]] = {}
        self._stopping = False
        #: Set when close() stops waiting: what still runs ends with an error.
        self._abandon = False
        #: The engine thread failed: nothing would run a new generation.
        self._broken = False
        self._thread = threading.Thread(target=self._run, name=f"llm {label}", daemon=True)
        self._thread.start()

    # -- any thread ----------------------------------------------------------------------------

    def submit(self, prompt: list[int], sampling: Sampling, deadline: float | None) -> TokenStream:
        """Queue a generation (call on the event loop whose stream reads it)."""
        per_slot = self.context.per_slot
        if not prompt:
            raise InvalidArgument("the prompt is empty: give at least one token of text")
        room = per_slot - len(prompt)
        wanted = sampling.max_tokens
        if wanted is not None and wanted > room:
            raise ContextLengthExceeded(
                f"the prompt is {len(prompt)} tokens and max_tokens is {wanted}: over the "
                f"context of {per_slot} tokens per sequence; shorten the prompt or lower "
                "max_tokens"
            )
        if room <= 0:  # no max_tokens to lower: the prompt alone leaves no room for a token
            said = "fills" if room == 0 else "is over"
            raise ContextLengthExceeded(
                f"the prompt is {len(prompt)} tokens: it {said} the context of {per_slot} "
                "tokens per sequence, leaving no room for an answer; shorten the prompt"
            )
        vocabulary = self.weights.n_vocab
        if outside := sorted(t for t in sampling.logit_bias if not 0 <= t < vocabulary):
            raise InvalidSampling(
                "logit_bias",
                f"logit_bias names token {outside[0]}, outside the model's vocabulary of "
                f"{vocabulary} tokens (0 to {vocabulary - 1})",
            )
        stream = TokenStream(asyncio.get_running_loop(), self._wake)
        stream.prompt_tokens = len(prompt)
        job = _Job(prompt, sampling, wanted if wanted is not None else room, deadline, stream)
        with self._cond:
            if self._stopping:
                state = "broken: its generation engine failed" if self._broken else "unloading"
                raise Unavailable(f"{self._label} is {state}", retry_after=1)
            if len(self._waiting) >= self.max_waiting:
                raise Unavailable(
                    f"{self._label}: {len(self._waiting)} generations are already waiting for a "
                    "slot (the bound llm.max_waiting_seqs); retry later",
                    retry_after=1,
                )
            self._waiting.append(job)
            self._cond.notify()
        return stream

    def load(self) -> tuple[int, int]:
        """(running, waiting) generations."""
        return len(self._active), len(self._waiting)

    def occupancy(self) -> tuple[int, float]:
        """(tokens running and waiting generations may hold, share of the KV cells reserved
        by the running ones). Read from any thread: the copies are single C-level calls."""
        running, waiting = list(self._active), list(self._waiting)
        reserved = sum(job.reserve for job in running)
        return reserved + sum(job.reserve for job in waiting), min(
            reserved / self.context.cells, 1.0
        )

    def close(self, timeout_s: float) -> None:
        """Refuse new generations, let running and waiting ones finish (up to ``timeout_s``,
        then they end with an error), stop the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            with self._cond:
                self._abandon = True
                self._cond.notify()
            self._thread.join()

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify()

    # -- engine thread -------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._active and not self._waiting and not self._stopping:
                        self._cond.wait()
                    if self._abandon or (self._stopping and not self._active and not self._waiting):
                        break
                    self._admit()
                if self._active:
                    self._step()
        except Exception:
            log.exception("the generation engine of %s failed", self._label)
            with self._cond:
                self._stopping = self._broken = True
            self._fail_all(InternalError(f"the generation engine of {self._label} failed"))
            return
        self._fail_all(Unavailable(f"{self._label} unloaded before the generation ended", 1))

    def _admit(self) -> None:
        now = time.monotonic()
        # Gone or late before they got a slot: out now, not once a slot frees (minutes, maybe).
        for job in [j for j in self._waiting if j.stream.cancelled or now > (j.deadline or now)]:
            self._waiting.remove(job)
            slots, free = self.context.slots, len(self._free)
            why = f"passed its deadline before it started ({free} of {slots} slots free)"
            why = why if free else f"waited for a free slot past its deadline (all {slots} busy)"
            late = None if job.stream.cancelled else DeadlineExceeded(f"the generation {why}")
            job.stream.deliver(Ended(None, late))
        while self._waiting and self._free and self._room_for(self._waiting[0]):
            job = self._waiting.popleft()
            self._take_slot(job)
            seed = job.sampling.seed if job.sampling.seed is not None else secrets.randbits(32)
            job.sampler = self.context.sampler(job.sampling, seed, job.prompt)
            job.stops = StopScan(job.sampling.stop)
            self._active.append(job)

    def _room_for(self, job: _Job) -> bool:
        """Whether the KV cache can hold ``job`` to its end beside what the running generations
        reserved (their prompt plus ``max_tokens``), after dropping kept tokens of free slots
        (longest first) if need be. Oldest first: a generation that does not fit yet waits, and
        those behind it wait too."""
        reserved = sum(j.reserve for j in self._active) + job.reserve
        kept = sorted(self._free, key=lambda s: len(self._kept.get(s, ())))
        held = sum(len(self._kept.get(s, ())) for s in kept)
        while kept and reserved + held > self.context.cells:
            slot = kept.pop()
            dropped = self._kept.pop(slot, None)
            if dropped:
                held -= len(dropped)
                self.context.forget(slot)
        return reserved <= self.context.cells

    def _take_slot(self, job: _Job) -> None:
        """Give ``job`` a free slot and as much of its prompt as the cache already holds: the
        free slot whose kept tokens share the longest prefix with the prompt, or, when another
        sequence (running, or kept in another free slot) shares a longer one, that prefix
        shared into the slot (in the unified cache the cells are shared, not copied). At least
        the prompt's last token is always read: its logits start the answer."""
        prompt, limit = job.prompt, len(job.prompt) - 1
        slot, own = self._free[-1], 0
        for free in self._free:
            n = _common_prefix(self._kept.get(free, ()), prompt)
            if n > own:
                slot, own = free, n
        source, best = slot, own
        holders = [(j.slot, j.cached) for j in self._active]
        holders += [(s, tokens) for s, tokens in self._kept.items() if s != slot]
        for other, tokens in holders:
            n = _common_prefix(tokens, prompt)
            if n > best:
                source, best = other, n
        self._free.remove(slot)
        kept = self._kept.pop(slot, [])
        if source != slot and min(best, limit) > min(own, limit):
            shared = min(best, limit)
            self.context.forget(slot)
            self.context.share(source, slot, shared)
        else:
            shared = min(own, limit)
            if len(kept) > shared and not self.context.forget(slot, shared):
                self.context.forget(slot)  # this cache cannot drop a tail: start from nothing
                shared = 0
        job.slot = slot
        job.fed = job.position = shared
        job.cached = prompt[:shared]
        job.stream.cached_tokens = shared

    def _step(self) -> None:
        ctx = self.context
        now = time.monotonic()
        for job in list(self._active):
            if job.stream.cancelled:
                self._end(job, Ended(None))
            elif job.deadline is not None and now > job.deadline:
                self._end(
                    job, Ended(None, DeadlineExceeded("the generation ran past its deadline"))
                )
        ctx.clear_batch()
        sampling: list[tuple[_Job, int]] = []
        for job in self._active:
            if job.decoding:
                sampling.append((job, ctx.add(job.last, job.position, job.slot, True)))
                job.cached.append(job.last)
                job.position += 1
        budget = ctx.batch_size - ctx.n
        for job in self._active:
            if budget <= 0:
                break
            if job.decoding:
                continue
            take = min(budget, len(job.prompt) - job.fed)
            end = job.fed + take
            for i in range(job.fed, end):
                index = ctx.add(job.prompt[i], job.position, job.slot, i == len(job.prompt) - 1)
                job.position += 1
            job.cached += job.prompt[job.fed : end]
            job.fed = end
            budget -= take
            if job.decoding:
                sampling.append((job, index))
        if ctx.n == 0:
            return
        try:
            ctx.decode()
        except InferdError as exc:  # this batch fails; the engine goes on with the next
            log.error("%s: %s; its %d generations fail", self._label, exc, len(self._active))
            self._fail_all(exc, running_only=True)
            return
        for job, index in sampling:
            assert job.sampler is not None
            self._accept(job, job.sampler.sample(index))

    def _accept(self, job: _Job, token: int) -> None:
        job.generated += 1
        if job.stream.cancelled:
            job.after_cancel += 1
        job.unsent_tokens += 1
        job.last = token
        if self.weights.is_end(token) and not job.sampling.ignore_eos:
            self._end(job, Ended("stop"), flush=True)
            return
        piece = job.decoder.decode(self.weights.output_piece(token))
        job.text += piece
        if (back := job.stops.feed(piece)) >= 0:
            # Bytes the decoder still holds (the start of a character in the token that ended
            # the stop) come after the stop: they are dropped with it.
            job.text = job.text[: len(job.text) - back]
            job.decoder.reset()
            self._end(job, Ended("stop"), flush=True)
            return
        if job.generated >= job.max_tokens or job.position >= self.context.per_slot:
            self._end(job, Ended("length"), flush=True)
            return
        keep = job.stops.held
        send = job.text[: len(job.text) - keep]
        if send or job.generated == 1:  # the first token is delivered at once (TTFT)
            job.stream.deliver(Chunk(send, job.unsent_tokens))
            job.text = job.text[len(send) :]
            job.unsent_tokens = 0

    def _end(self, job: _Job, ended: Ended, flush: bool = False) -> None:
        if flush:
            rest = job.text + job.decoder.decode(b"", final=True)
            if rest or job.unsent_tokens:
                job.stream.deliver(Chunk(rest, job.unsent_tokens))
            job.text, job.unsent_tokens = "", 0
        job.stream.completion_tokens = job.generated
        job.stream.tokens_after_cancel = job.after_cancel
        self._release(job, keep=True)  # first: a reader woken by the ending finds it free
        job.stream.deliver(ended)

    def _release(self, job: _Job, keep: bool = False) -> None:
        """Free ``job``'s slot; ``keep`` leaves its tokens in the cache for a later prompt
        (only after a completed step: a failed decode leaves the cache unknown)."""
        self._active.remove(job)
        if keep:
            self._kept[job.slot] = job.cached
        else:
            self.context.forget(job.slot)
        if job.sampler is not None:
            job.sampler.close()
            job.sampler = None
        self._free.append(job.slot)

    def _fail_all(self, error: InferdError, running_only: bool = False) -> None:
        """End the running generations (their cache dropped), and the waiting unless told."""
        waiting: list[_Job] = []
        if not running_only:
            with self._cond:
                waiting = list(self._waiting)
                self._waiting.clear()
        running = list(self._active)
        for job in running:
            self._release(job)
        for job in [*running, *waiting]:
            job.stream.completion_tokens = job.generated
            job.stream.tokens_after_cancel = job.after_cancel
            job.stream.deliver(Ended(None, error))


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
