"""The autoscaler's language-model signals, sampled from a gateway's real metrics and replica
readings: tokens in flight and requests waiting summed over replicas, KV-cache usage as mean
times replicas, time to first token p95 times ready replicas."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest

from inferd.control.autoscale.signals import GatewaySignals
from inferd.control.gateway import Gateway
from inferd.control.gateway.aggregate import ReplicaReading
from inferd.control.gateway.metrics import GatewayMetrics
from inferd.control.replicas.topology import DeploymentRoute, Replica, Topology, VersionRoute

REPLICAS = tuple(Replica(f"bot-v1-{i}", "bot", "v1", "127.0.0.1", 1, "ready") for i in range(2))
TOPOLOGY = Topology({"bot": DeploymentRoute("bot", (VersionRoute("v1", "llm", "llm:v1", 100,
                                                                 REPLICAS),))})  # fmt: skip


class FakeGateway:
    """What GatewaySignals reads of a gateway: its metrics, in-flight count, replica readings."""

    def __init__(self) -> None:
        self.metrics = GatewayMetrics()
        self.readings = [
            ReplicaReading(REPLICAS[0], requests_waiting=3, tokens_in_flight=900,
                           kv_cache_usage=0.9),
            ReplicaReading(REPLICAS[1], requests_waiting=1, tokens_in_flight=300,
                           kv_cache_usage=0.5),
        ]  # fmt: skip

    def in_flight(self, deployment: str) -> int:
        return 0

    async def replica_readings(self, deployment: str) -> list[ReplicaReading]:
        return self.readings


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("tokens_in_flight", 1200.0),
        ("requests_waiting", 4.0 + 2),  # plus the 2 requests held for a cold start
        ("kv_cache_usage", 1.4),  # mean 0.7 x 2 replicas: against a target 0.7, 2 replicas
    ],
)
def test_replica_signals(metric: str, expected: float) -> None:
    gateway = FakeGateway()
    signals = GatewaySignals(cast(Gateway, gateway), lambda: TOPOLOGY, held=lambda _: 2)
    sample = asyncio.run(signals.sample("bot", metric))
    assert sample.value == pytest.approx(expected)


def test_ttft_p95_since_the_previous_sample() -> None:
    gateway = FakeGateway()
    signals = GatewaySignals(cast(Gateway, gateway), lambda: TOPOLOGY)
    asyncio.run(signals.sample("bot", "ttft_p95"))  # the first sample sets the baseline
    for _ in range(20):
        gateway.metrics.stream("bot", "v1", 0.4, 0.02)
    value = asyncio.run(signals.sample("bot", "ttft_p95")).value
    # p95 of 20 streams at 0.4 s falls in the (0.25, 0.5] bucket, times 2 ready replicas.
    assert 0.5 < value <= 1.0
    assert asyncio.run(signals.sample("bot", "ttft_p95")).value == 0.0  # nothing new streamed
