"""When one traced request waited and ran, as the batcher saw it (for its trace's spans).

A transport that traces a request gives it a :class:`RequestTimings`
(``InferRequest.timings``); the batcher fills it in when the request's batch has run. Requests
that are not traced carry None and cost the batcher one ``is None`` check.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(slots=True)
class RequestTimings:
    """``time.monotonic()`` stamps of one request in the batcher, and its batch's size; all
    zero until its batch has run, but for a request shed while queued (its deadline passed,
    or it waited the queue-wait limit): ``enqueued`` and ``shed``. A request refused before it
    queued keeps the zeros."""

    #: Queued (the batcher accepted it).
    enqueued: float = 0.0
    #: Its batch started on the model's worker (the end of its queue wait).
    started: float = 0.0
    #: Its batch's outputs were back on the event loop.
    finished: float = 0.0
    #: Rows and requests in its batch.
    batch_rows: int = 0
    batch_requests: int = 0
    #: It left the queue without running: its wait ended here (0: it was never shed).
    shed: float = 0.0

    @property
    def ran(self) -> bool:
        return self.finished > 0.0

    def stamp(self, enqueued: float, started: float, rows: int, requests: int) -> None:
        """Its batch has run: it was queued at ``enqueued`` and its batch of ``rows`` rows and
        ``requests`` requests started at ``started``."""
        self.enqueued = enqueued
        self.started = started
        self.finished = time.monotonic()
        self.batch_rows = rows
        self.batch_requests = requests

    def shed_at(self, enqueued: float, shed: float) -> None:
        """It was queued at ``enqueued`` and left the queue unstarted at ``shed``."""
        self.enqueued = enqueued
        self.shed = shed
