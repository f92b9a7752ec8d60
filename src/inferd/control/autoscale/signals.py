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

from prometheus_client.parser import text_string_to_metric_families

from inferd.control.gateway import Gateway
from inferd.control.gateway.aggregate import scrape
from inferd.control.replicas.topology import DeploymentRoute, Topology
from inferd.control.rollout.observe import Snapshot, quantile, snapshot

_REQUESTS = "inferd_gateway_requests_total"
_LATENCY = "inferd_gateway_request_duration_seconds_bucket"
_QUEUE_DEPTH = "inferd_queue_depth"


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
        self._held = held
        self._clock = clock
        self._last: dict[str, tuple[float, Snapshot]] = {}
        self._active_at: dict[str, float] = {}

    async def sample(self, deployment: str, metric: str) -> Sample:
        now = self._clock()
        route = self._topology().deployments.get(deployment)
        current = snapshot(self.gateway.metrics.registry)
        since, before = self._last.get(deployment, (now, current))
        self._last[deployment] = (now, current)
        delta = current.minus(before)
        arrived = sum(v for _, v in delta.select(_REQUESTS, deployment=deployment))
        outstanding = self._outstanding(route) + self._held(deployment)
        if arrived > 0 or outstanding > 0:
            self._active_at[deployment] = now
        idle = now - self._active_at.setdefault(deployment, now)
        if metric == "concurrency":
            value = float(outstanding)
        elif metric == "queue_depth":
            value = await self._queue_depth(route) + self._held(deployment)
        elif metric == "rps":
            value = arrived / (now - since) if now > since else 0.0
        else:
            buckets = [
                (float("inf") if labels["le"] == "+Inf" else float(labels["le"]), count)
                for labels, count in delta.select(_LATENCY, deployment=deployment)
            ]
            p95 = quantile(0.95, _summed(buckets)) or 0.0
            value = p95 * max(self._ready(route), 1)
        return Sample(value, idle)

    def _outstanding(self, route: DeploymentRoute | None) -> int:
        if route is None:
            return 0
        counts = self.gateway.proxy.outstanding
        return sum(counts.get(r.id, 0) for v in route.versions for r in v.replicas)

    @staticmethod
    def _ready(route: DeploymentRoute | None) -> int:
        if route is None:
            return 0
        return sum(len(v.ready_replicas) for v in route.versions if v.name != route.shadow)

    async def _queue_depth(self, route: DeploymentRoute | None) -> float:
        if route is None:
            return 0.0
        replicas = [
            (r, self.gateway.proxy.pool(r)) for v in route.versions for r in v.ready_replicas
        ]
        total = 0.0
        for _, text in await scrape(replicas):
            for family in text_string_to_metric_families(text):
                if family.name == _QUEUE_DEPTH:
                    total += sum(s.value for s in family.samples)
        return total


def _summed(buckets: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Buckets of several versions added up per bound."""
    sums: dict[float, float] = {}
    for bound, count in buckets:
        sums[bound] = sums.get(bound, 0.0) + count
    return list(sums.items())
