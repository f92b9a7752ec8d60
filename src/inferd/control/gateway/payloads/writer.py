"""One deployment's payload queue and the workers that drain it into its sink.

The request path calls :meth:`Writer.put`, which never waits: it enqueues, or counts the
payload dropped when ``queue_size`` payloads already wait. Workers (as many as the sink takes
at once) take payloads off the queue and deliver them; a delivery that fails or times out
counts its payloads failed. Nothing is retried: a payload log is a record kept on a best-effort
basis, and a struggling sink must cost the clients nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from inferd.control.gateway.payloads.events import Payload
from inferd.control.gateway.payloads.sinks import Sink
from inferd.control.tasks import cancel_and_wait
from inferd.spec.observability import LoggingSpec

log = logging.getLogger(__name__)

#: Counts ``n`` payloads of a deployment under an outcome (delivered, dropped, failed).
Count = Callable[[str, int], None]


class Writer:
    """A bounded queue in front of one sink. Create it on the event loop."""

    def __init__(self, deployment: str, spec: LoggingSpec, sink: Sink, count: Count) -> None:
        self.deployment = deployment
        self.spec = spec
        self._sink = sink
        self._count = count
        self._queue: asyncio.Queue[Payload] = asyncio.Queue(spec.queue_size)
        self._failing = False
        loop = asyncio.get_running_loop()
        self._workers = [
            loop.create_task(self._work(), name=f"payload-log-{deployment}-{i}")
            for i in range(sink.workers)
        ]

    @property
    def depth(self) -> int:
        """Payloads waiting for the sink."""
        return self._queue.qsize()

    def put(self, payload: Payload) -> None:
        """Queue ``payload`` for the sink, or count it dropped when the queue is full."""
        try:
            self._queue.put_nowait(payload)
        except asyncio.QueueFull:
            self._count("dropped", 1)

    async def close(self, grace_s: float) -> None:
        """Let the workers deliver what is queued for up to ``grace_s``, then stop them; what
        is still queued then counts as dropped."""
        with contextlib.suppress(TimeoutError):  # queued and in delivery
            await asyncio.wait_for(self._queue.join(), grace_s)
        await cancel_and_wait(*self._workers)
        left = self._queue.qsize()
        if left:
            self._count("dropped", left)
        await self._sink.close()

    async def _work(self) -> None:
        queue, batch_size = self._queue, self._sink.batch
        while True:
            batch = [await queue.get()]
            while len(batch) < batch_size and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                await self._sink.deliver(batch)
            except asyncio.CancelledError:
                self._count("failed", len(batch))
                raise
            except Exception as exc:  # any sink failure is counted, never raised to clients
                self._count("failed", len(batch))
                self._failed(exc)
            else:
                self._count("delivered", len(batch))
                self._recovered()
            finally:
                for _ in batch:
                    queue.task_done()

    def _failed(self, exc: Exception) -> None:
        """Log the first failure of a run of them (the count says how many)."""
        if not self._failing:
            self._failing = True
            log.warning(
                "payload log of %r: delivery failed (%s); failures are counted in "
                "inferd_gateway_payload_log_events_total until it recovers",
                self.deployment,
                exc,
            )

    def _recovered(self) -> None:
        if self._failing:
            self._failing = False
            log.info("payload log of %r: delivering again", self.deployment)
