"""Scale from zero: requests for a deployment with no ready replica wait while one starts.

The gateway calls :meth:`ColdStart.hold` when a request for a deployment it knows is routed to
a version scaled to zero (no replica at all), or finds no ready replica in any version.
``timeout`` says how long a request may wait — None when the deployment does not scale from
zero, and the gateway answers 503 as before — and ``wake`` (the autoscaler) starts the
deployment's versions that are scaled to zero. At most ``max_held`` requests wait per
deployment; more are refused with 503 at once rather than piling up. Waiters are released
together when a topology arrives with a ready replica in the version they wait for (or, waiting
for any, in any version that takes primary traffic).

The time from the first held request to the first ready replica is the cold-start time,
exported as ``inferd_autoscaler_cold_start_seconds``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Gauge, Histogram

from inferd.control.replicas.topology import Topology
from inferd.errors import Unavailable

#: Requests held per deployment while it cold-starts.
DEFAULT_MAX_HELD = 256
_COLD_BUCKETS = (0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)

#: How long a request for ``deployment`` may wait for a replica (None: it does not scale
#: from zero). Called often: no side effects.
Timeout = Callable[[str], float | None]
#: Start a replica of each version of ``deployment`` scaled to zero (called once per held
#: request; idempotent).
Wake = Callable[[str], None]
#: What a held request waits for: (deployment, version), the version None for any version.
_Awaited = tuple[str, str | None]


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
        self._ready: dict[_Awaited, asyncio.Event] = {}
        self._held: dict[str, int] = {}
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

    def update(self, topology: Topology) -> None:
        """Release the waiters whose version (or deployment) now has a ready replica."""
        for awaited in [a for a in self._ready if _arrived(topology, *a)]:
            self._ready.pop(awaited).set()
            deployment = awaited[0]
            since = self._cold_since.pop(deployment, None)
            if since is not None:
                self._cold.labels(deployment).observe(time.monotonic() - since)

    async def hold(self, deployment: str, version: str | None = None) -> bool:
        """Wait for a ready replica of ``version`` of ``deployment`` (None: of any version that
        takes primary traffic); False when the deployment does not scale from zero.

        Raises Unavailable when too many requests wait already or none became ready in time.
        """
        timeout = self._timeout(deployment)
        if timeout is None:
            return False
        self._wake(deployment)
        if self.held(deployment) >= self.max_held:
            raise Unavailable(
                f"deployment {deployment!r} is starting a replica and {self.max_held} requests "
                "are already waiting"
            )
        event = self._ready.setdefault((deployment, version), asyncio.Event())
        self._cold_since.setdefault(deployment, time.monotonic())
        self._count(deployment, +1)
        try:
            async with asyncio.timeout(timeout):
                await event.wait()
        except TimeoutError:
            raise Unavailable(
                f"deployment {deployment!r} did not start a replica within {timeout:g} s"
            ) from None
        finally:
            self._count(deployment, -1)
        return True

    def _count(self, deployment: str, step: int) -> None:
        self._held[deployment] = self.held(deployment) + step
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
