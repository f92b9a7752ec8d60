"""The queue-wait limit of one batcher, ``batching.max_queue_wait_ms``: Triton's queue policy
(``default_timeout_microseconds`` with ``timeout_action: REJECT``). Off (0) by default.

Set, it bounds how long a request waits for its batch to start, two ways:

- **On arrival**, a request behind at least one full batch (``max_batch_size`` rows) of queued
  requests, whose expected wait is beyond the limit, is refused at once. The expected wait is
  what is left of the running batch plus one batch for every full batch queued ahead of it:
  queued requests run together, up to a full batch, once the model frees. The batch time and
  the rows a request brings are running means of the recent batches (their time counted from
  start to answer). The refusal costs the client microseconds instead of the limit, and the
  queue keeps no request it could not start in time. A request that would start with the next
  batch is never refused on arrival: what is left of the running batch is the least certain
  part of the estimate (a mean of recent batches, which after an overload were full ones), and
  refusing on it refused every request arriving during a batch longer than the limit, at any
  load, as Triton (which only times out requests that waited) never does.
- **While queued**, a request that has waited the limit without starting is refused then, and
  never runs: the estimate may be wrong (no batch measured yet, a model that slows down), and
  this is what makes the bound hold. Requests share the limit, so arrival order is expiry
  order: one timer watches the earliest arrival, as for deadlines (:mod:`.deadlines`).

Both refusals are :class:`~inferd.errors.Unavailable` (503 + ``Retry-After``) naming the
setting: the request did not run and may be retried, like one shed by a full queue. A request
that already ran (a failed batch rerun one request at a time) is never refused for its wait,
and a request's own deadline still answers 504 when it comes first.

Everything here runs on the event-loop thread, like the batcher.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence

from inferd.config import BatchingSettings
from inferd.errors import Unavailable
from inferd.serving.deadlines import Waiter

#: The weight of the newest batch in the running means of batch time and rows per request.
WEIGHT = 0.25
#: Retry-After of a refusal (seconds), as a full queue's.
RETRY_AFTER_S = 1.0


def queue_wait(
    label: str,
    settings: BatchingSettings,
    max_rows: int,
    loop: asyncio.AbstractEventLoop,
    refuse: Callable[[Waiter, Unavailable], None],
) -> NoQueueWait:
    """The limit of ``label``'s batcher, whose batches hold up to ``max_rows`` rows:
    :class:`NoQueueWait` when ``settings.max_queue_wait_ms`` is 0."""
    if settings.max_queue_wait_ms == 0:
        return NoQueueWait()
    return QueueWait(label, settings.max_queue_wait_ms, max_rows, loop, refuse)


class NoQueueWait:
    """No limit: every request waits its turn (the batcher calls the same two methods)."""

    __slots__ = ()

    def watch(self, waiter: Waiter, queued: int, running: bool, running_since: float) -> None:
        """Refuse ``waiter`` now (raise Unavailable) if it can expect to wait beyond the limit,
        else refuse it once it has waited the limit without starting (here: neither)."""

    def ran(self, waiters: Sequence[Waiter], rows: int, seconds: float, failed: bool) -> None:
        """A batch of ``waiters`` and ``rows`` rows took ``seconds`` from its start to its
        answer; ``failed``: it failed, and those not answered queue again to rerun one by one."""


class QueueWait(NoQueueWait):
    """Refuses the requests of one batcher that would wait, or have waited, beyond
    ``limit_ms``; ``refuse`` withdraws a queued waiter and answers it the error given."""

    __slots__ = ("_batch_s", "_due", "_label", "_limit", "_line", "_loop", "_max_rows",
                 "_refuse", "_request_rows", "_timer", "limit_ms")  # fmt: skip

    def __init__(
        self,
        label: str,
        limit_ms: float,
        max_rows: int,
        loop: asyncio.AbstractEventLoop,
        refuse: Callable[[Waiter, Unavailable], None],
    ) -> None:
        self._label = label
        self.limit_ms = limit_ms
        self._limit = limit_ms / 1000.0
        self._max_rows = max_rows
        self._loop = loop
        self._refuse = refuse
        #: Queued requests in arrival order (started and answered ones leave from the front).
        self._line: deque[Waiter] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._due = 0.0
        #: Running means of the recent batches: seconds from start to answer, and rows a request
        #: brings (0 until a batch has run).
        self._batch_s = 0.0
        self._request_rows = 0.0

    def __len__(self) -> int:
        """Requests in line: the queued ones, and any started since the front was last cleared."""
        return len(self._line)

    def expected_wait(self, queued: int, running: bool, running_since: float, now: float) -> float:
        """Seconds a request arriving at ``now`` can expect to wait for its batch to start,
        behind ``queued`` requests and, when ``running``, a batch started at ``running_since``."""
        if self._request_rows == 0.0:
            return 0.0
        left = max(0.0, running_since + self._batch_s - now) if running else 0.0
        return left + queued // self.full_batch() * self._batch_s

    def full_batch(self) -> int:
        """Requests in a full batch at the recent rows a request (1 before a batch has run)."""
        if self._request_rows == 0.0:
            return 1
        return max(1, int(self._max_rows / self._request_rows))

    def watch(self, waiter: Waiter, queued: int, running: bool, running_since: float) -> None:
        wait = self.expected_wait(queued, running, running_since, waiter.enqueued)
        if wait > self._limit and queued >= self.full_batch():
            raise Unavailable(
                f"{self._label} would keep this request queued about {wait * 1000:.0f} ms "
                f"({queued} requests ahead), beyond its limit of {self.limit_ms:g} ms "
                "(batching.max_queue_wait_ms); retry later",
                retry_after=RETRY_AFTER_S,
            )
        self._line.append(waiter)
        if self._timer is None:
            self._arm(waiter.enqueued)

    def ran(self, waiters: Sequence[Waiter], rows: int, seconds: float, failed: bool) -> None:
        request_rows = rows / len(waiters)
        if self._request_rows == 0.0:
            self._request_rows, self._batch_s = request_rows, seconds
        else:
            self._request_rows += WEIGHT * (request_rows - self._request_rows)
            self._batch_s += WEIGHT * (seconds - self._batch_s)
        line = self._line
        if failed:  # they ran: never refused for their wait when they queue again to rerun
            for waiter in waiters:
                if waiter in line:
                    line.remove(waiter)
        # Started requests leave from the front now, not when the timer next fires: the line
        # stays about as long as the queue, and holds no answered request's inputs.
        while line and not line[0].queued:
            line.popleft()

    def expire(self, now: float) -> None:
        """Refuse every request still queued that has waited the limit by ``now``; drop the
        started and answered ones from the front of the line."""
        line = self._line
        while line:
            first = line[0]
            if first.queued and not first.future.done():
                if first.enqueued + self._limit > now:
                    return
                self._refuse(
                    first,
                    Unavailable(
                        f"{self._label} kept this request queued {self.limit_ms:g} ms without "
                        "starting it, its limit (batching.max_queue_wait_ms); retry later",
                        retry_after=RETRY_AFTER_S,
                    ),
                )
            line.popleft()

    def _arm(self, now: float) -> None:
        self._due = self._line[0].enqueued + self._limit
        self._timer = self._loop.call_later(self._due - now, self._fire)

    def _fire(self) -> None:
        """The first request in line may be due: refuse those due by now (or by the time the
        timer was set for: a timer may fire a little early), then watch the next one."""
        self._timer = None
        now = time.monotonic()
        self.expire(max(now, self._due))
        if self._line:
            self._arm(now)
