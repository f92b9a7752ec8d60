"""The dynamic batcher: one per loaded model version, placed in front of its model.

Policy, in order:

- When nothing is running and nothing waits, a request runs at once, alone: a lone request on an
  idle model never waits for a batch window. (A model that has just finished a batch of several
  rows is busy, not idle: see the next rule.)
- While a batch runs, arrivals collect into the next batch. A collecting batch closes when it
  holds ``max_batch_size`` rows, when ``max_queue_delay_ms`` has passed since its first request,
  or when an arrival cannot join it (different input names, datatypes or trailing dimensions).
  A delay of 0 sets no time bound: the batch collects until it is full or the model frees.
  Closed batches run in arrival order as soon as the model is free, each joined by the closed
  batches behind it with its key, up to ``max_batch_size`` rows: all waited for the model anyway
  (kept apart, a slow model ran a full queue at 1.7 rows a batch, half its capacity, in
  ``bench/overload.py``). When the model frees and no batch is closed, the collecting one closes
  and runs, unless the batch that just finished held more rows: then collection goes on until that
  many rows have arrived, the batch is full, or as long as the finished batch took to compute has
  passed (never more than ``max_queue_delay_ms`` when that is set). Under load the requests a
  batch answered come straight back, and a handful run alone would cost the model nearly a whole
  batch's time (on the ``mlp`` benchmark at 64 concurrent clients, one batch in seven ran a single
  row before this rule). A closed (unloading) batcher never waits for rows.
- At most ``max_queue_size`` requests wait; beyond that a request is refused at once with
  :class:`~inferd.errors.Unavailable` (503 + Retry-After), so the queue never grows unbounded.
  So is one that waits, or would, longer than ``max_queue_wait_ms`` (:mod:`.queue_wait`).
- A request whose deadline passes is answered with DeadlineExceeded at that moment; if it had not
  started, it never runs, and its error says how long it queued. A request whose awaiting task is
  cancelled (client gone) never runs.
- A batch whose outputs do not have one row per input row fails every waiter with InternalError.
  A batch of several requests the model raises on reruns them one by one, so that only the
  offending request fails; alone, an inferd error the model raises (InvalidArgument,
  Unsupported…) reaches the client as it is, and any other exception as InternalError, its
  details in the log only. A model that is Unavailable (its sandbox worker died and is
  restarting) fails the batch with that, as a 503.

Everything here runs on the event-loop thread except ``model.predict``, which runs on the
version's :class:`~inferd.serving.worker.ModelWorker` (a lone one-row request to a small model
may run on the loop: :mod:`inferd.serving.inline`). Per request, the hot path allocates one
future, no timer (one timer watches the earliest deadline: :mod:`inferd.serving.deadlines`)
and touches no metric label.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Hashable
from typing import Any

import numpy as np

from inferd.config import BatchingSettings
from inferd.datatypes import Tensors
from inferd.errors import DeadlineExceeded, InferdError, InternalError, Unavailable
from inferd.observe.metrics import VersionMetrics
from inferd.runtimes.base import Model
from inferd.serving.deadlines import DeadlineLine, Waiter
from inferd.serving.failures import log_batch_failure
from inferd.serving.inline import InlinePolicy, timed
from inferd.serving.queue_wait import QueueWait, queue_wait
from inferd.serving.signature import output_rows_problem
from inferd.serving.stats import VersionStats
from inferd.serving.timings import RequestTimings
from inferd.serving.worker import ModelWorker


class _Batch:
    __slots__ = ("key", "rows", "waiters")

    def __init__(self, first: Waiter, key: Hashable) -> None:
        self.waiters = [first]
        self.rows = first.rows
        self.key = key


class Batcher:
    """Queues requests for one model version and runs them in batches on its worker.

    Create it inside the running event loop (it binds to that loop). ``batchable`` False makes
    every request a batch of its own (models without a variable first dimension).
    """

    def __init__(
        self,
        label: str,
        model: Model,
        worker: ModelWorker,
        settings: BatchingSettings,
        *,
        batchable: bool,
        stats: VersionStats,
        metrics: VersionMetrics,
    ) -> None:
        self._label = label
        self._model = model
        self._worker = worker
        self._loop = asyncio.get_running_loop()
        self._batchable = batchable
        self._max_rows = settings.max_batch_size if batchable else 1
        self._max_queue = settings.max_queue_size
        self._delay = settings.max_queue_delay_ms / 1000.0
        self._stats = stats
        self._metrics = metrics
        self._closed: deque[_Batch] = deque()
        self._open: _Batch | None = None
        self._open_timer: asyncio.TimerHandle | None = None
        self._running: list[Waiter] | None = None
        self._running_rows = 0
        #: When the running batch started (``time.monotonic()``): spans, the queue-wait limit.
        self._running_since = 0.0
        self._queued = 0
        self._accepting = True
        self._idle: list[asyncio.Future[None]] = []
        #: While the model is free but busy (see the module docstring): the rows the collecting
        #: batch waits for, and the timer that ends the wait. 0 and None otherwise.
        self._awaited_rows = 0
        self._await_timer: asyncio.TimerHandle | None = None
        self._deadlines: DeadlineLine[Waiter] = DeadlineLine(self._loop, self._expire)
        self._inline = InlinePolicy(model)
        self._wait = queue_wait(label, settings, self._max_rows, self._loop, self._expire)
        self._waits = isinstance(self._wait, QueueWait)  # else no call per request to watch

    @property
    def queued(self) -> int:
        """Requests waiting for a batch (not yet running)."""
        return self._queued

    @property
    def inflight(self) -> int:
        """Requests accepted and not yet answered: queued plus running."""
        return self._queued + (len(self._running) if self._running is not None else 0)

    async def submit(
        self,
        inputs: Tensors,
        rows: int,
        key: Hashable,
        deadline: float,
        timings: RequestTimings | None = None,
    ) -> Tensors:
        """Queue one request and return its outputs (its own rows of the batch's outputs).

        ``rows`` is the request's first dimension, ``key`` what it must share with the others of
        its batch (None: it runs alone), ``deadline`` an absolute ``time.monotonic()`` value.
        ``timings`` (a traced request's) gets its queue wait and batch once the batch has run.
        """
        if not self._accepting:
            raise Unavailable(f"{self._label} is being unloaded; retry", retry_after=1.0)
        if self._queued >= self._max_queue:
            raise Unavailable(
                f"{self._label} has {self._queued} requests queued, its limit "
                "(batching.max_queue_size); retry later",
                retry_after=1.0,
            )
        now = time.monotonic()
        if deadline <= now:
            raise DeadlineExceeded(f"deadline passed before {self._label} could queue the request")
        waiter = Waiter(inputs, rows, self._loop.create_future(), now, deadline, timings=timings)
        if self._waits:
            self._wait.watch(waiter, self._queued, self._running is not None, self._running_since)
        self._deadlines.watch(waiter, now)
        self._queued += 1
        if key is None or rows > self._max_rows:
            self._enqueue_alone(waiter)
        else:
            self._enqueue(waiter, key)
        try:
            return await waiter.future
        except asyncio.CancelledError:
            self._withdraw(waiter)
            self._deadlines.forget_answered()
            raise

    async def drain(self) -> None:
        """Wait until nothing is queued or running (new requests may still arrive meanwhile)."""
        while self.inflight:
            idle: asyncio.Future[None] = self._loop.create_future()
            self._idle.append(idle)
            await idle

    def close(self) -> None:
        """Refuse new requests; queued and running ones still finish (see :meth:`drain`)."""
        self._accepting = False
        # Nothing more will join a collecting batch: run what waits without waiting for rows.
        self._stop_awaiting()
        self._kick()

    # -- queueing ------------------------------------------------------------------------------

    def _enqueue_alone(self, waiter: Waiter) -> None:
        self._close_open()
        self._closed.append(_Batch(waiter, None))
        self._kick()

    def _enqueue(self, waiter: Waiter, key: Hashable) -> None:
        batch = self._open
        if batch is not None and (batch.key != key or batch.rows + waiter.rows > self._max_rows):
            self._close_open()
            batch = None
        if batch is None:
            self._open = batch = _Batch(waiter, key)
            if self._running is not None and self._delay > 0:
                self._open_timer = self._loop.call_later(self._delay, self._close_open)
        else:
            batch.waiters.append(waiter)
            batch.rows += waiter.rows
        if batch.rows >= self._max_rows:
            self._close_open()
        self._kick()

    def _close_open(self) -> None:
        if self._open_timer is not None:
            self._open_timer.cancel()
            self._open_timer = None
        if self._open is not None:
            self._closed.append(self._open)
            self._open = None

    def _kick(self) -> None:
        """Start the next batch if the model is free: a closed one first, else the open one."""
        if self._running is not None:
            return
        while True:
            if not self._closed:
                if self._awaited_rows and (
                    self._open is None or self._open.rows < self._awaited_rows
                ):
                    return
                self._close_open()
                if not self._closed:
                    return
            batch = self._closed.popleft()
            waiters = [w for w in batch.waiters if w.queued]
            if waiters:
                self._start(self._join_closed(waiters, batch.key))
                return

    def _join_closed(self, waiters: list[Waiter], key: Hashable) -> list[Waiter]:
        """``waiters`` plus the closed batches after theirs with ``key``, while the rows fit."""
        if key is None or not self._closed or self._closed[0].key != key:
            return waiters  # the usual: nothing to join, no rows to sum
        rows = sum(w.rows for w in waiters)
        while self._closed and self._closed[0].key == key:
            following = [w for w in self._closed[0].waiters if w.queued]
            rows += sum(w.rows for w in following)
            if rows > self._max_rows:
                break
            self._closed.popleft()
            waiters.extend(following)
        return waiters

    # -- deadlines -----------------------------------------------------------------------------

    def _withdraw(self, waiter: Waiter) -> None:
        if waiter.timer is not None:
            waiter.timer.cancel()
        if waiter.queued:
            waiter.queued = False
            self._queued -= 1
            self._notify_idle()

    def _expire(self, waiter: Waiter, error: InferdError | None = None) -> None:
        """Answer ``waiter`` ``error``, by default that its deadline passed (unless answered)."""
        if waiter.future.done():
            return
        where = f"while the model ran for {self._label}"
        if waiter.queued:  # shed: its error and a traced request's stamps say how long it queued
            where = f"while queued for {self._label} {waiter.shed(time.monotonic())}; it never ran"
        self._withdraw(waiter)
        waiter.future.set_exception(error or DeadlineExceeded(f"deadline passed {where}"))

    # -- running -------------------------------------------------------------------------------

    def _start(self, waiters: list[Waiter]) -> None:
        self._stop_awaiting()
        now = time.monotonic()
        rows = 0
        for w in waiters:
            w.queued = False
            self._metrics.queue_wait.observe(now - w.enqueued)
            rows += w.rows
        self._queued -= len(waiters)
        self._running = waiters
        self._running_rows = rows
        self._running_since = now
        if len(waiters) == 1:
            inputs = waiters[0].inputs  # a batch of one request runs on its own arrays, no copy
        else:
            inputs = {
                name: np.concatenate([w.inputs[name] for w in waiters])
                for name in waiters[0].inputs
            }
        job = timed(self._model.predict, inputs)
        if self._inline.allows(len(waiters), rows) and not self._closed and self._open is None:
            try:  # answered on the loop's next turn, as a worker's answer is: never re-entrant
                self._loop.call_soon(self._finished, job(), None)
            except Exception as exc:  # reported as the worker reports it: the batch fails
                self._loop.call_soon(self._finished, None, exc)
            return
        self._worker.submit(job, self._loop, self._finished)

    def _finished(self, result: Any, error: BaseException | None) -> None:
        waiters = self._running
        rows = self._running_rows
        assert waiters is not None
        self._running = None
        self._wait.ran(waiters, rows, time.monotonic() - self._running_since, error is not None)
        if error is None:
            outputs, compute_ns = result
            self._inline.measured(len(waiters), rows, compute_ns)
            error = output_rows_problem(self._label, outputs, rows) if self._batchable else None
            if error is None:
                # Counted only once it answered its requests, as Triton counts inferences.
                self._record(rows, compute_ns)
                self._fan_out(waiters, outputs, rows, compute_ns)
                self._await_more(rows, compute_ns / 1e9)
        elif isinstance(error, Unavailable):
            pass  # as it is: e.g. a sandboxed model's worker died and restarts
        elif len(waiters) > 1:
            # One request's input can fail the whole batch (a string that is not UTF-8, a value
            # the model cannot take): each request reruns alone, so only the offender fails.
            self._isolate(waiters)
            error = None
        elif not isinstance(error, InferdError) or isinstance(error, InternalError):
            log_batch_failure(self._label, rows, error)
            error = InternalError(f"{self._label} failed to run the batch; see the server log")
        if error is not None:
            for w in waiters:
                if w.timer is not None:
                    w.timer.cancel()
                if not w.future.done():
                    w.future.set_exception(error)
        self._deadlines.forget_answered()
        self._kick()
        self._notify_idle()

    def _await_more(self, finished_rows: int, compute_s: float) -> None:
        """After a batch of ``finished_rows`` ran, let the next one collect as many rows (for at
        most ``compute_s``, capped by the queue delay) before the model takes it."""
        target = min(finished_rows, self._max_rows)
        collected = self._open.rows if self._open is not None else 0
        if target <= collected or target <= 1 or self._closed or not self._accepting:
            return
        self._awaited_rows = target
        wait = min(self._delay, compute_s) if self._delay > 0 else compute_s
        self._await_timer = self._loop.call_later(wait, self._end_wait)

    def _end_wait(self) -> None:
        self._await_timer = None
        self._awaited_rows = 0
        self._kick()

    def _stop_awaiting(self) -> None:
        if self._await_timer is not None:
            self._await_timer.cancel()
            self._await_timer = None
        self._awaited_rows = 0

    def _isolate(self, waiters: list[Waiter]) -> None:
        pending = [w for w in waiters if not w.future.done()]
        for w in reversed(pending):
            w.queued = True
            self._closed.appendleft(_Batch(w, None))
        self._queued += len(pending)

    def _record(self, rows: int, compute_ns: int) -> None:
        finished = time.time()
        self._stats.record_batch(rows, compute_ns, int(finished * 1000))
        self._metrics.compute.observe(compute_ns / 1e9)
        self._metrics.batch_size.observe(rows)
        self._metrics.last_inference.set(finished)

    def _fan_out(self, waiters: list[Waiter], outputs: Tensors, rows: int, compute_ns: int) -> None:
        """Answer each waiter its rows (a lone one: the outputs as they are), and count the
        answered ones, once a batch (Triton's statistics)."""
        started, alone = self._running_since, len(waiters) == 1
        start = answered = queue_ns = 0
        for w in waiters:
            end = start + w.rows
            if w.timer is not None:
                w.timer.cancel()
            if w.timings is not None:
                w.timings.stamp(w.enqueued, started, rows, len(waiters))
            if not w.future.done():
                mine = outputs if alone else {n: out[start:end] for n, out in outputs.items()}
                w.future.set_result(mine)
                answered, queue_ns = answered + 1, queue_ns + int((started - w.enqueued) * 1e9)
            start = end
        self._stats.record_answers(answered, queue_ns, compute_ns)

    def _notify_idle(self) -> None:
        if self._idle and not self.inflight:
            for idle in self._idle:
                if not idle.done():
                    idle.set_result(None)
            self._idle.clear()
