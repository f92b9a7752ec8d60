"""Sending one request to a version's replicas: balancing, retry once, passive ejection.

The proxy owns the upstream connection pools (one per replica address) and the count of
requests outstanding on each replica, which is what least-outstanding-requests balancing reads.
Bodies travel as the bytes the client sent; responses come back as the bytes the replica sent.

Retry policy (inference is idempotent, so a second attempt is safe):

* a connection that fails before a complete response (refused, reset, closed) is retried once
  on another ready replica of the same version — or on the same one over a fresh connection
  when it has no sibling (a keep-alive connection the replica closed while idle fails this way);
* a 503 from a replica (draining, or its queue is full) is retried once on another replica;
* a timeout is not retried.

When the gateway traces, each try is a CLIENT span under the request's span (as Envoy's per-try
spans), naming the replica and how the try ended, and the replica's spans are its children.

A replica whose connection failed is avoided for :data:`~.balance.EJECT_S` while others are
available (:mod:`.balance`), so a replica killed between two topology snapshots costs one retry,
not one per request. One that keeps failing (connections, or 500/502/503/504 answers, several in
a row) is ejected as an outlier for longer (:mod:`.outliers`): a replica whose model crashes and
restarts over and over is ready again after each restart, and would take its share each time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from inferd.control.gateway.balance import Balancer
from inferd.control.gateway.keepalive import PoolsByReplica, UpstreamFailed, UpstreamTimeout
from inferd.control.gateway.metrics import GatewayMetrics
from inferd.control.gateway.outliers import FAILING_STATUSES
from inferd.control.gateway.tracing import try_ended, try_span
from inferd.control.gateway.upstream import ReplicaPool, UpstreamRequest, UpstreamResponse
from inferd.control.replicas.topology import Replica, Topology, VersionRoute
from inferd.errors import DeadlineExceeded, Unavailable

if TYPE_CHECKING:
    from inferd.observe.tracing import Tracing


class Proxy:
    """Forwards requests to replicas of a version; see the module docstring for the policy."""

    def __init__(
        self, metrics: GatewayMetrics, timeout_s: float, tracing: Tracing | None = None
    ) -> None:
        self.metrics = metrics
        self.timeout_s = timeout_s
        self._pools: PoolsByReplica[ReplicaPool] = PoolsByReplica(ReplicaPool)
        self.balance = Balancer()
        #: Requests sent and not yet answered, per replica id (absent: none).
        self.outstanding = self.balance.outstanding
        #: Spans of each try (None: not traced).
        self.tracing = tracing

    def pool(self, replica: Replica) -> ReplicaPool:
        return self._pools.pool(replica.host, replica.port)

    def retain(self, topology: Topology) -> None:
        """Close the pools of replicas no longer in ``topology`` (requests still running on
        them finish; their connections close when they do)."""
        self._pools.retain(topology)
        self.balance.retain(topology)

    def close(self) -> None:
        self._pools.close()

    async def send(
        self,
        deployment: str,
        version: VersionRoute,
        request: UpstreamRequest,
        *,
        retry: bool = True,
        shadow: bool = False,
    ) -> UpstreamResponse:
        """The replica's response (any status). Raises :class:`Unavailable` when no replica
        could be reached and :class:`DeadlineExceeded` when the chosen one did not answer.
        When traced, each try is a span of its own (``shadow``: a shadow copy's)."""
        tried: set[str] = set()
        attempts_left = 2 if retry else 1
        tracing = self.tracing
        while True:
            attempts_left -= 1
            replica = self.balance.choose(version.ready_replicas, tried)
            if replica is None:
                raise Unavailable(
                    f"version {version.name!r} of {deployment!r} has no ready replica"
                )
            tried.add(replica.id)
            sent, span = request, None
            if tracing is not None:
                sent, span = try_span(tracing, request, replica, len(tried) - 1, shadow)
            response = None
            outcome = "cancelled"  # the client went away (try_ended: a shadow copy's time ran out)
            try:
                response = await self.pool(replica).request(sent, self.timeout_s)
            except UpstreamFailed:
                outcome = "connection failed"
                self.balance.eject(replica.id)
                self.outcome(deployment, version, replica.id, failed=True)
                if not attempts_left:
                    raise Unavailable(
                        f"no replica of {deployment!r} version {version.name!r} answered"
                    ) from None
                self.metrics.retry(deployment, version.name, "connection")
                continue
            except UpstreamTimeout:
                outcome = "timeout"
                raise DeadlineExceeded(
                    f"{deployment!r} version {version.name!r} did not answer within "
                    f"{self.timeout_s:g} s"
                ) from None
            finally:
                self.balance.done(replica.id)
                if tracing is not None and span is not None and response is None:
                    try_ended(tracing, span, outcome, None)
            self.outcome(
                deployment, version, replica.id, failed=response.status in FAILING_STATUSES
            )
            again = response.status == 503 and attempts_left and self._has_other(version, tried)
            if tracing is not None and span is not None:
                try_ended(tracing, span, "retried" if again else "answered", response)
            if again:
                self.metrics.retry(deployment, version.name, "unavailable")
                continue
            return response

    def outcome(
        self, deployment: str, version: VersionRoute, replica_id: str, *, failed: bool
    ) -> None:
        """Count one outcome of a replica of ``version`` towards its ejection as an outlier
        (:meth:`.balance.Balancer.report`), and an ejection in the gateway's metrics."""
        if self.balance.report(version.ready_replicas, replica_id, failed=failed):
            self.metrics.ejection(deployment, version.name)

    def _has_other(self, version: VersionRoute, tried: set[str]) -> bool:
        return any(r.id not in tried for r in version.ready_replicas)
