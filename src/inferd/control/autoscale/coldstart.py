"""Scale from zero: requests for a deployment with no ready replica wait while one starts.

The gateway calls :meth:`ColdStart.hold` when a request for a deployment it knows is routed to
a version scaled to zero (no replica at all), or finds no ready replica in any version.
``timeout`` says how long a request may wait — None when the deployment does not scale from
zero, and the gateway answers 503 as before — and ``wake`` (the autoscaler) starts the
deployment's versions that are scaled to zero. At most ``max_held`` requests wait per
deployment; more are refused with 503 at once rather than piling up. Waiters are released
together when a topology arrives with a ready replica in the version they wait for (or, waiting
for any, in any version that takes primary traffic).

When the autoscaler cannot start a replica of a version (a model that cannot load), it says
so with :meth:`ColdStart.fail`: the requests waiting for that version get 503 at once with the
replica's reason, and so does every request routed to it until the backoff before its next
start has run out (``retry_after``) — rather than each waiting the whole ``cold_start_timeout``
for a replica that will not come. Another version's requests are not refused for it.

Until a replica of that version is ready, the deployment is :meth:`ColdStart.start_failing`:
the gateway's readiness then counts it as not ready (as Knative marks a revision whose pods
fail to start), where a deployment at zero otherwise counts as ready because it can answer.

The time from the first held request to the first ready replica is the cold-start time,
exported as ``inferd_autoscaler_cold_start_seconds``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Gauge, Histogram

from inferd.control.replicas.topology import Topology
from inferd.errors import Unavailable

#: Requests held per deployment while it cold-starts.
DEFAULT_MAX_HELD = 256
_COLD_BUCKETS = (0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)

#: How long a request for ``deployment`` may wait for a replica (None: it does not scale
#: from zero). Called often: no side effects.
Timeout = Callable[[str], float | None]
#: Start a replica of each version of ``deployment`` scaled to zero, and of each at zero that
#: requests are held for (:meth:`ColdStart.held_versions`), called once per held request
#: (idempotent).
Wake = Callable[[str], None]
#: What a held request waits for: (deployment, version), the version None for any version.
_Awaited = tuple[str, str | None]


@dataclass
class _Wait:
    """The requests held for one :data:`_Awaited`: released together, with an error when the
    start they wait for failed."""

    released: asyncio.Event = field(default_factory=asyncio.Event)
    error: Unavailable | None = None


class ColdStart:
    """Holds requests per deployment until a replica is ready (see the module docstring)."""

    def __init__(
        self,
        timeout: Timeout,
        wake: Wake,
        registry: CollectorRegistry,
        max_held: int = DEFAULT_MAX_HELD,
    ) -> None:
        self._timeout = timeout
        self._wake = wake
        self.max_held = max_held
        self._waits: dict[_Awaited, _Wait] = {}
        #: Per (deployment, version), the last start that failed and until when (monotonic)
        #: it answers.
        self._failed: dict[tuple[str, str], tuple[Unavailable, float]] = {}
        #: The versions whose last start failed and that have had no ready replica since.
        self._unstarted: set[tuple[str, str]] = set()
        self._held: dict[str, int] = {}
        #: Requests held per what they wait for (a version, or any version).
        self._held_for: dict[_Awaited, int] = {}
        self._cold_since: dict[str, float] = {}
        self._held_gauge = Gauge(
            "inferd_autoscaler_held_requests",
            "Requests held by the gateway while the deployment starts a replica.",
            ("deployment",), registry=registry,
        )  # fmt: skip
        self._cold = Histogram(
            "inferd_autoscaler_cold_start_seconds",
            "From the first request held for a deployment without replicas to its first ready "
            "replica.",
            ("deployment",), buckets=_COLD_BUCKETS, registry=registry,
        )  # fmt: skip

    def can_hold(self, deployment: str) -> bool:
        """Whether requests for ``deployment`` wait for a replica rather than get 503 (so a
        deployment scaled to zero still counts as ready)."""
        return self._timeout(deployment) is not None

    def held(self, deployment: str) -> int:
        return self._held.get(deployment, 0)

    def held_for(self, deployment: str, version: str) -> int:
        """Requests held for ``version`` of ``deployment`` (routed to it while at zero)."""
        return self._held_for.get((deployment, version), 0)

    def held_versions(self, deployment: str) -> set[str]:
        """The versions of ``deployment`` that requests are held for by name (a header route's
        version, one named in the path, one routed to by its weight)."""
        return {v for (d, v) in self._held_for if d == deployment and v is not None}

    def start_failing(self, deployment: str) -> bool:
        """Whether a version of ``deployment`` failed to start and has had no ready replica
        since (its backoff may have run out: it has not started either)."""
        return any(d == deployment for d, _ in self._unstarted)

    def needs_replica(self, deployment: str) -> bool:
        """Whether ``deployment`` counts as ready only with a ready replica (the gateway's
        readiness): one that does not scale from zero, or whose start failed."""
        return not self.can_hold(deployment) or self.start_failing(deployment)

    def update(self, topology: Topology) -> None:
        """Release the waiters whose version (or deployment) now has a ready replica."""
        self._unstarted = {k for k in self._unstarted if not _arrived(topology, *k)}
        for awaited in [a for a in self._waits if _arrived(topology, *a)]:
            self._waits.pop(awaited).released.set()
            deployment = awaited[0]
            since = self._cold_since.pop(deployment, None)
            if since is not None:
                self._cold.labels(deployment).observe(time.monotonic() - since)

    def fail(self, deployment: str, version: str, error: Unavailable) -> None:
        """A replica of ``version`` of ``deployment`` could not start (``error`` says why): the
        requests waiting for it get ``error`` now, and so does every request held for it within
        ``error.retry_after`` seconds, while no new start of it is tried."""
        self._failed[(deployment, version)] = (error, time.monotonic() + error.retry_after)
        self._unstarted.add((deployment, version))
        wait = self._waits.pop((deployment, version), None)
        if wait is not None:
            wait.error = error
            wait.released.set()
        if not any(a[0] == deployment for a in self._waits):
            self._cold_since.pop(deployment, None)

    def forget(self, deployment: str, version: str) -> None:
        """Drop the failed start of a version that is gone (removed by an apply): a version
        of the same name added later is not refused for it."""
        self._failed.pop((deployment, version), None)
        self._unstarted.discard((deployment, version))

    async def hold(self, deployment: str, version: str | None = None) -> bool:
        """Wait for a ready replica of ``version`` of ``deployment`` (None: of any version that
        takes primary traffic); False when the deployment does not scale from zero.

        Raises Unavailable when too many requests wait already, when none became ready in
        time, and with the reason when the start of ``version`` failed (or failed lately:
        :meth:`fail`).
        """
        timeout = self._timeout(deployment)
        if timeout is None:
            return False
        if version is not None:
            self._refuse_after_failure(deployment, version)
        if self.held(deployment) >= self.max_held:
            self._wake(deployment)
            raise Unavailable(
                f"deployment {deployment!r} is starting a replica and {self.max_held} requests "
                "are already waiting"
            )
        wait = self._waits.setdefault((deployment, version), _Wait())
        self._cold_since.setdefault(deployment, time.monotonic())
        self._count(deployment, version, +1)
        try:
            self._wake(deployment)  # counted first: the wake starts the versions held for
            async with asyncio.timeout(timeout):
                await wait.released.wait()
        except TimeoutError:
            raise Unavailable(
                f"deployment {deployment!r} did not start a replica within {timeout:g} s"
            ) from None
        finally:
            self._count(deployment, version, -1)
        if wait.error is not None:  # one exception per request: they are raised concurrently
            raise Unavailable(wait.error.message, retry_after=wait.error.retry_after)
        return True

    def _refuse_after_failure(self, deployment: str, version: str) -> None:
        """Raise the last failed start of ``version`` while its backoff runs."""
        failed = self._failed.get((deployment, version))
        if failed is None:
            return
        error, until = failed
        left = until - time.monotonic()
        if left <= 0:
            del self._failed[(deployment, version)]
            return
        raise Unavailable(error.message, retry_after=left)

    def _count(self, deployment: str, version: str | None, step: int) -> None:
        self._held[deployment] = self.held(deployment) + step
        awaited = (deployment, version)
        self._held_for[awaited] = self._held_for.get(awaited, 0) + step
        if not self._held_for[awaited]:
            del self._held_for[awaited]
        self._held_gauge.labels(deployment).set(self._held[deployment])


def _arrived(topology: Topology, deployment: str, version: str | None) -> bool:
    """Whether ``topology`` has what a request held for (``deployment``, ``version``) waits for."""
    route = topology.deployments.get(deployment)
    if route is None:
        return False
    if version is None:
        return bool(route.primaries)
    found = route.version(version)
    return found is not None and bool(found.ready_replicas)
