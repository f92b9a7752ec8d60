"""Shadow (mirror) traffic: a copy of a primary request to another version, compared, never
returned.

The copy is sent when the primary is, in a task of its own, so the client's response never waits
for it. At most ``max_inflight`` copies run at once; beyond that a copy is dropped (and counted)
rather than queued, so a slow shadow cannot build up memory. A copy gets ``timeout_s`` and no
retry. Failures and timeouts are only counted: a copy cut off by ``timeout_s``, or by its
transport's own deadline (a gRPC copy's is ``timeout_s`` too), is a ``timeout``, and so is the
outcome of its try's span (:data:`.tracing.COPY_TIMEOUT`), not ``cancelled``. A copy refused
as the client's fault (a 4xx) is no failure: it counts as ``client_error`` when the primary
refused the same request too (or had no answer to tell), and as ``refused`` when the primary
answered it — a candidate that refuses what the live version answers (a changed signature)
shows there. Every copy sent is timed, from its sending to the shadow's answer, failure or
timeout (a rollout judges a blue-green candidate's latency by it). When both the shadow and the
primary answered 200, their outputs are compared (:mod:`inferd.control.gateway.compare`) and
the divergence is recorded in the metrics and the status tallies.

Comparing decodes both answers and holds the GIL all along, so answers of more than
``limits.inline_decode_bytes`` are compared in a worker thread with the short switch interval
(:class:`inferd.protocols.offload.Decoder`, as the server decodes big bodies): measured on a
15 MB JSON answer (1000 x 768 FP32), the event loop stalled 0.8-1.2 s while it was compared on the
loop, and only for single C calls (orjson's parse, numpy's conversion) in the thread.

The bookkeeping is the same for every transport: :meth:`Mirror.copy` takes how to send the copy
and an :class:`AnswerReader` saying how that transport's answers are read (REST responses by
status and body, :data:`HTTP_ANSWERS`; the gRPC proxy brings its own), and :meth:`Mirror.mirror`
is the REST case.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Generic, TypeVar

from inferd.config import LimitSettings
from inferd.control.gateway.compare import Divergence, Undecodable, compare, decode_outputs
from inferd.control.gateway.metrics import GatewayMetrics
from inferd.control.gateway.proxy import Proxy
from inferd.control.gateway.tracing import COPY_TIMEOUT
from inferd.control.gateway.traffic import ShadowTally
from inferd.control.gateway.upstream import UpstreamRequest, UpstreamResponse
from inferd.control.replicas.topology import VersionRoute
from inferd.control.tasks import cancel_and_wait
from inferd.errors import DeadlineExceeded, InferdError
from inferd.protocols.offload import Decoder

log = logging.getLogger(__name__)

#: Mirrored requests in flight at once, across all deployments.
DEFAULT_MAX_INFLIGHT = 64

#: Told of every copy that finished: (deployment, shadow version, seconds, failed).
AnswerListener = Callable[[str, str, float, bool], None]

A = TypeVar("A")


@dataclass(frozen=True, slots=True)
class AnswerReader(Generic[A]):
    """How the mirror reads one transport's answers (the primary's and the copy's)."""

    #: The answer is a success (only successes are compared).
    ok: Callable[[A], bool]
    #: How the shadow's answer (second) diverges from the primary's (first); raises
    #: :class:`Undecodable` when either holds nothing to compare.
    divergences: Callable[[A, A], list[Divergence]]
    #: The answer refuses the request as the client's fault (HTTP 4xx); by default none does.
    client_error: Callable[[A], bool] = lambda _: False
    #: The bytes comparing the answer decodes (big ones are compared off the event loop).
    size: Callable[[A], int] = lambda _: 0


def _http_divergences(primary: UpstreamResponse, shadow: UpstreamResponse) -> list[Divergence]:
    return compare(
        decode_outputs(primary.headers, primary.body), decode_outputs(shadow.headers, shadow.body)
    )


def client_error(status: int) -> bool:
    """An HTTP status that refuses a request as the client's fault."""
    return 400 <= status < 500


#: REST answers: 200 is a success; JSON, binary-extension and KServe v1 bodies decode.
HTTP_ANSWERS: AnswerReader[UpstreamResponse] = AnswerReader(
    lambda answer: answer.status == 200,
    _http_divergences,
    lambda answer: client_error(answer.status),
    lambda answer: len(answer.body),
)


class Mirror:
    """Sends shadow copies and records how their answers compare with the primary's."""

    def __init__(
        self,
        proxy: Proxy,
        metrics: GatewayMetrics,
        timeout_s: float,
        *,
        max_inflight: int = DEFAULT_MAX_INFLIGHT,
        on_answer: AnswerListener | None = None,
        limits: LimitSettings | None = None,
    ) -> None:
        self.proxy = proxy
        self._decoder = Decoder(limits or LimitSettings())
        self.on_answer = on_answer
        self.metrics = metrics
        self.timeout_s = timeout_s
        self.max_inflight = max_inflight
        #: Totals per (deployment, primary version, shadow version), for status().
        self.tallies: dict[tuple[str, str, str], ShadowTally] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def full(self) -> bool:
        """No room for another copy: :meth:`drop` it instead of building it."""
        return len(self._tasks) >= self.max_inflight

    def drop(self, deployment: str, primary: str, shadow: str) -> None:
        """Count a copy that was not sent because :attr:`full`."""
        self._count((deployment, primary, shadow), "dropped")

    def mirror(
        self,
        deployment: str,
        primary: str,
        shadow: VersionRoute,
        request: UpstreamRequest,
    ) -> asyncio.Future[UpstreamResponse | None]:
        """Start a REST copy (the caller checked :attr:`full`); resolve the returned future with
        the primary's response (or None when the primary failed) once it is known. Returns at
        once."""

        def send() -> Awaitable[UpstreamResponse]:
            return self.proxy.send(deployment, shadow, request, retry=False, shadow=True)

        return self.copy(deployment, primary, shadow.name, send, HTTP_ANSWERS)

    def copy(
        self,
        deployment: str,
        primary: str,
        shadow: str,
        send: Callable[[], Awaitable[A]],
        reader: AnswerReader[A],
    ) -> asyncio.Future[A | None]:
        """Start a copy that ``send()`` sends to the shadow version (any transport; the caller
        checked :attr:`full`). ``send`` raises :class:`InferdError` when no answer came. Resolve
        the returned future with the primary's answer (or None when the primary failed) once it
        is known. Returns at once."""
        loop = asyncio.get_running_loop()
        primary_answer: asyncio.Future[A | None] = loop.create_future()
        key = (deployment, primary, shadow)
        self._tally(key)  # the pairing shows in status() from its first copy on
        task = loop.create_task(self._run(key, send, reader, primary_answer))
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return primary_answer

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        # A copy only ever affects counters; a bug in comparing must not go unnoticed either.
        if not task.cancelled() and task.exception() is not None:
            log.error("shadow copy failed unexpectedly", exc_info=task.exception())

    async def _run(
        self,
        key: tuple[str, str, str],
        send: Callable[[], Awaitable[A]],
        reader: AnswerReader[A],
        primary_answer: asyncio.Future[A | None],
    ) -> None:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout_s) as cut_off:
                COPY_TIMEOUT.set(cut_off)  # this task's: the tries it cuts short timed out
                answer = await send()
        except (TimeoutError, DeadlineExceeded):  # cut off here, or by the transport's deadline
            self._answered(key, started, failed=True)
            self._count(key, "timeout")
            return
        except InferdError:
            self._answered(key, started, failed=True)
            self._count(key, "failed")
            return
        ok = reader.ok(answer)
        refused = not ok and reader.client_error(answer)
        self._answered(key, started, failed=not (ok or refused))
        if not (ok or refused):
            self._count(key, "failed")
            return
        primary = await primary_answer
        if refused:
            # Clients send their bad requests to both versions: a refusal is the candidate's
            # only where the primary answered the same request.
            answered = primary is not None and reader.ok(primary)
            self._count(key, "refused" if answered else "client_error")
            return
        if primary is None or not reader.ok(primary):
            # Nothing to compare against (the primary failed, or its stream was cut short);
            # the shadow itself did fine.
            self._count(key, "uncompared")
            return
        try:
            divergences = await self._decoder.decode(
                partial(reader.divergences, primary, answer),
                reader.size(primary) + reader.size(answer),
            )
        except Undecodable as exc:
            log.warning("shadow comparison for %s skipped: %s", key[0], exc)
            self._count(key, "failed")
            return
        self._count(key, "compared")
        tally = self._tally(key)
        for d in divergences:
            self.metrics.divergence(*key, d)
            tally.add(d.output, d.kind, d.value)

    def _answered(self, key: tuple[str, str, str], started: float, *, failed: bool) -> None:
        seconds = time.perf_counter() - started
        self.metrics.shadow_answered(key[0], key[2], seconds)
        if self.on_answer is not None:
            self.on_answer(key[0], key[2], seconds, failed)

    def _tally(self, key: tuple[str, str, str]) -> ShadowTally:
        tally = self.tallies.get(key)
        if tally is None:
            tally = self.tallies[key] = ShadowTally()
        return tally

    def _count(self, key: tuple[str, str, str], outcome: str) -> None:
        self.metrics.shadow(*key, outcome)
        self._tally(key).count(outcome)

    async def stop(self) -> None:
        """Cancel copies still running (their answers would only be counted)."""
        await cancel_and_wait(*self._tasks)
