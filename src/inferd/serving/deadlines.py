"""The batcher's bookkeeping for queued requests: each one's :class:`Waiter`, and the
:class:`DeadlineLine` that answers those whose deadline passes (the gateway's replica client
watches its requests with the same line).

Requests share the server's timeout, so arrival order is deadline order: the line keeps
unanswered requests in arrival order and one timer watches the first of them. A timer per request
would cost more than the rest of the queueing. A request whose deadline comes before one already
in line (a client-set timeout) gets a timer of its own instead, which keeps the line in order.

Everything here runs on the event-loop thread, like the batcher.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from inferd.datatypes import Tensors
from inferd.serving.timings import RequestTimings


@dataclass(slots=True, eq=False)  # eq=False: waiters compare (and leave the line) by identity
class Waiter:
    """One queued request. ``queued`` turns False once it runs, expires or is withdrawn.

    ``timer`` is set only for a request whose deadline comes before an earlier arrival's (see
    :meth:`DeadlineLine.watch`).
    """

    inputs: Tensors
    rows: int
    future: asyncio.Future[Tensors]
    enqueued: float
    deadline: float
    queued: bool = True
    timer: asyncio.TimerHandle | None = None
    #: A traced request's stamps, filled in when its batch has run or it is shed; None when
    #: not traced.
    timings: RequestTimings | None = None

    def shed(self, now: float) -> str:
        """It leaves the queue unstarted at ``now`` (its deadline, or the queue-wait limit):
        stamp a traced request's timings, and say how long it queued ("after 93 ms")."""
        if self.timings is not None:
            self.timings.shed_at(self.enqueued, now)
        return f"after {(now - self.enqueued) * 1000:.0f} ms"


class Deadlined(Protocol):
    """What a line holds: a deadline (``time.monotonic()``), the future that answers it, and
    the timer of its own that :meth:`DeadlineLine.watch` may set."""

    deadline: float
    future: asyncio.Future[Any]
    timer: asyncio.TimerHandle | None


D = TypeVar("D", bound=Deadlined)


class DeadlineLine(Generic[D]):
    """Unanswered requests in deadline order; ``expire`` is called for each one whose deadline
    passes before it is answered (its future may be done by then: ``expire`` checks)."""

    __slots__ = ("_due", "_expire", "_line", "_loop", "_timer")

    def __init__(self, loop: asyncio.AbstractEventLoop, expire: Callable[[D], None]) -> None:
        self._loop = loop
        self._expire = expire
        self._line: deque[D] = deque()
        self._timer: asyncio.TimerHandle | None = None
        #: The deadline the timer was set for.
        self._due = 0.0

    def __len__(self) -> int:
        return len(self._line)

    def watch(self, waiter: D, now: float) -> None:
        """Expire ``waiter`` at its deadline unless it is answered first."""
        line = self._line
        if line and waiter.deadline < line[-1].deadline:
            # An earlier deadline than a request already waiting (a client-set timeout): a timer
            # of its own keeps the line in order.
            waiter.timer = self._loop.call_later(waiter.deadline - now, self._expire, waiter)
            return
        line.append(waiter)
        if self._timer is None:
            self._arm(now)

    def forget_answered(self) -> None:
        """Drop answered requests from the front of the line (they finish roughly in arrival
        order, so the line stays about as long as the queue)."""
        line = self._line
        while line and line[0].future.done():
            line.popleft()
        if not line and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self, now: float) -> None:
        self._due = self._line[0].deadline
        self._timer = self._loop.call_later(self._due - now, self._fire)

    def _fire(self) -> None:
        """The first deadline in line is due: expire every request due by now (or by the time
        the timer was set for: a timer may fire a little early, and the request is then as good
        as late), then watch the next one."""
        self._timer = None
        now = time.monotonic()
        due = max(now, self._due)
        line = self._line
        while line and (line[0].future.done() or line[0].deadline <= due):
            self._expire(line.popleft())
        if line:
            self._arm(now)
