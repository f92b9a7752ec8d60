"""The autoscaler's signals, measured where ``inferd up`` sees traffic: the gateway.

* ``concurrency`` — requests outstanding on the deployment's replicas, plus requests the
  gateway holds while a replica cold-starts (they are demand too);
* ``queue_depth`` — requests waiting for a batch, summed from the replicas' own
  ``inferd_queue_depth`` (scraped), plus held requests;
* ``rps`` — requests per second through the gateway since the previous sample;
* ``latency_p95`` — the p95 through the gateway since the previous sample, times the ready
  replicas, so that value / target (the SLO) is the replica count that meets the SLO if
  latency scales inversely with replicas.

A deployment is *active* while requests arrive or are in flight; the idle time before scaling
to zero counts from its last activity.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from inferd.control.gateway import Gateway
from inferd.control.gateway.readings import GatewayReading
from inferd.control.replicas.topology import DeploymentRoute, Topology


@dataclass(frozen=True, slots=True)
class Sample:
    value: float
    #: Seconds since the deployment last had traffic.
    idle_s: float


class GatewaySignals:
    """Samples a deployment's metric from a running gateway; remembers what it needs to diff."""

    def __init__(
        self,
        gateway: Gateway,
        topology: Callable[[], Topology],
        held: Callable[[str], int] = lambda _: 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.gateway = gateway
        self._topology = topology
        #: Requests the gateway holds for a deployment while a replica cold-starts.
        self.held = held
        self._clock = clock
        self._last: dict[str, tuple[float, GatewayReading]] = {}
        self._active_at: dict[str, float] = {}

    async def sample(self, deployment: str, metric: str) -> Sample:
        now = self._clock()
        route = self._topology().deployments.get(deployment)
        current = self.gateway.metrics.reading()
        since, before = self._last.get(deployment, (now, current))
        self._last[deployment] = (now, current)
        traffic = current.since(before).deployment(deployment)
        arrived = traffic.requests
        outstanding = self.gateway.in_flight(deployment) + self.held(deployment)
        if arrived > 0 or outstanding > 0:
            self._active_at[deployment] = now
        idle = now - self._active_at.setdefault(deployment, now)
        if metric == "concurrency":
            value = float(outstanding)
        elif metric == "queue_depth":
            value = await self._queue_depth(deployment) + self.held(deployment)
        elif metric == "rps":
            value = arrived / (now - since) if now > since else 0.0
        else:
            p95 = traffic.quantile(0.95) or 0.0
            value = p95 * max(self._ready(route), 1)
        return Sample(value, idle)

    @staticmethod
    def _ready(route: DeploymentRoute | None) -> int:
        if route is None:
            return 0
        return sum(len(v.ready_replicas) for v in route.versions if v.name != route.shadow)

    async def _queue_depth(self, deployment: str) -> float:
        readings = await self.gateway.replica_readings(deployment)
        return sum(r.queue_depth for r in readings)
