"""The autoscaler's signals, measured where ``inferd up`` sees traffic: the gateway.

* ``concurrency`` — requests outstanding on the deployment's replicas, plus requests the
  gateway holds while a replica cold-starts (they are demand too);
* ``queue_depth`` — requests waiting for a batch, summed from the replicas' own
  ``inferd_queue_depth`` (scraped), plus held requests;
* ``rps`` — requests per second through the gateway since the previous sample;
* ``latency_p95`` — the p95 through the gateway since the previous sample, times the ready
  replicas, so that value / target (the SLO) is the replica count that meets the SLO if
  latency scales inversely with replicas.

Language models (docs/autoscaling.md#language-models):

* ``tokens_in_flight`` — tokens the replicas' running and waiting generations may hold (each
  one's prompt plus ``max_tokens``), summed from ``inferd_llm_tokens_in_flight``;
* ``requests_waiting`` — generations waiting for a slot, summed from
  ``inferd_llm_requests_waiting``, plus held requests;
* ``ttft_p95`` — the p95 time to first token of streamed generations through the gateway since
  the previous sample, times the ready replicas (as ``latency_p95``);
* ``kv_cache_usage`` — the share of KV cache in use, averaged over the ready replicas, times
  their number (KEDA's average-value arithmetic: 2 replicas at 0.9 against a target of 0.7 ask
  for 3).

Engine replicas (vLLM, llama.cpp's server) report these under their own names, which the
gateway maps onto inferd's when it scrapes them.

A deployment is *active* while requests arrive or are in flight; the idle time before scaling
to zero counts from its last activity.

Each signal is the deployment's total, or one version's alone (``version``: the traffic routed
to it, its replicas' readings, the requests held for it), for a version other than the main
one that a request woke from zero and the autoscaler scales on its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from inferd.control.gateway import Gateway
from inferd.control.gateway.aggregate import ReplicaReading
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
        held_for: Callable[[str, str], int] = lambda _d, _v: 0,
    ) -> None:
        self.gateway = gateway
        self._topology = topology
        #: Requests the gateway holds for a deployment while a replica cold-starts.
        self.held = held
        #: Requests held for one version of a deployment (routed to it while at zero).
        self.held_for = held_for
        self._clock = clock
        #: Per (deployment, version or None for the whole deployment).
        self._last: dict[tuple[str, str | None], tuple[float, GatewayReading]] = {}
        self._active_at: dict[tuple[str, str | None], float] = {}

    async def sample(self, deployment: str, metric: str, version: str | None = None) -> Sample:
        """The deployment's ``metric`` now (``version``: that version's alone)."""
        now = self._clock()
        key = (deployment, version)
        route = self._topology().deployments.get(deployment)
        current = self.gateway.metrics.reading()
        since, before = self._last.get(key, (now, current))
        self._last[key] = (now, current)
        change = current.since(before)
        if version is None:
            traffic = change.deployment(deployment)
            held = self.held(deployment)
            outstanding = self.gateway.in_flight(deployment) + held
        else:
            traffic = change.version(deployment, version)
            held = self.held_for(deployment, version)
            outstanding = self._in_flight(route, version) + held
        arrived = traffic.requests
        if arrived > 0 or outstanding > 0:
            self._active_at[key] = now
        idle = now - self._active_at.setdefault(key, now)
        if metric == "concurrency":
            value = float(outstanding)
        elif metric == "queue_depth":
            value = sum(r.queue_depth for r in await self._readings(deployment, version)) + held
        elif metric == "rps":
            value = arrived / (now - since) if now > since else 0.0
        elif metric == "latency_p95":
            p95 = traffic.quantile(0.95) or 0.0
            value = p95 * max(self._ready(route, version), 1)
        elif metric == "ttft_p95":
            p95 = traffic.ttft_quantile(0.95) or 0.0
            value = p95 * max(self._ready(route, version), 1)
        else:
            value = _from_replicas(await self._readings(deployment, version), metric, held)
        return Sample(value, idle)

    def forget(self, deployment: str, version: str | None = None) -> None:
        """Drop what is remembered of a deployment an apply removed (of every version; or of
        ``version``, no longer scaled on its own): it is sampled afresh if it comes back."""
        for key in [k for k in self._last if k[0] == deployment and version in (None, k[1])]:
            del self._last[key]
        for key in [k for k in self._active_at if k[0] == deployment and version in (None, k[1])]:
            del self._active_at[key]

    def _in_flight(self, route: DeploymentRoute | None, version: str) -> int:
        """Requests sent to ``version``'s replicas and not answered yet."""
        found = route.version(version) if route is not None else None
        if found is None:
            return 0
        outstanding = self.gateway.proxy.outstanding
        return sum(outstanding.get(r.id, 0) for r in found.replicas)

    @staticmethod
    def _ready(route: DeploymentRoute | None, version: str | None) -> int:
        """Ready replicas of ``version`` (None: of every version that takes primary traffic)."""
        if route is None:
            return 0
        return sum(
            len(v.ready_replicas)
            for v in route.versions
            if v.name != route.shadow and version in (None, v.name)
        )

    async def _readings(self, deployment: str, version: str | None) -> list[ReplicaReading]:
        readings = await self.gateway.replica_readings(deployment)
        return [r for r in readings if version in (None, r.replica.version)]


def _from_replicas(readings: list[ReplicaReading], metric: str, held: int) -> float:
    """A language-model signal summed from the replicas' ``readings``."""
    if metric == "tokens_in_flight":
        return sum(r.tokens_in_flight for r in readings)
    if metric == "requests_waiting":
        return sum(r.requests_waiting for r in readings) + held
    if metric == "kv_cache_usage":
        usage = [r.kv_cache_usage for r in readings if r.kv_cache_usage is not None]
        return sum(usage)  # = mean usage x replicas reporting
    raise ValueError(f"unknown autoscaling metric {metric!r}")
