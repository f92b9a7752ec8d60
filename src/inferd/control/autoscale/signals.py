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
        elif metric == "latency_p95":
            p95 = traffic.quantile(0.95) or 0.0
            value = p95 * max(self._ready(route), 1)
        elif metric == "ttft_p95":
            p95 = traffic.ttft_quantile(0.95) or 0.0
            value = p95 * max(self._ready(route), 1)
        else:
            value = await self._from_replicas(deployment, metric)
        return Sample(value, idle)

    def forget(self, deployment: str) -> None:
        """Drop what is remembered of a deployment an apply removed (its last reading, its
        last activity): one added again under its name is sampled afresh."""
        self._last.pop(deployment, None)
        self._active_at.pop(deployment, None)

    @staticmethod
    def _ready(route: DeploymentRoute | None) -> int:
        if route is None:
            return 0
        return sum(len(v.ready_replicas) for v in route.versions if v.name != route.shadow)

    async def _queue_depth(self, deployment: str) -> float:
        readings = await self.gateway.replica_readings(deployment)
        return sum(r.queue_depth for r in readings)

    async def _from_replicas(self, deployment: str, metric: str) -> float:
        readings = await self.gateway.replica_readings(deployment)
        if metric == "tokens_in_flight":
            return sum(r.tokens_in_flight for r in readings)
        if metric == "requests_waiting":
            return sum(r.requests_waiting for r in readings) + self.held(deployment)
        if metric == "kv_cache_usage":
            usage = [r.kv_cache_usage for r in readings if r.kv_cache_usage is not None]
            return sum(usage)  # = mean usage x replicas reporting
        raise ValueError(f"unknown autoscaling metric {metric!r}")
