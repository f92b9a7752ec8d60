"""The autoscaler's signals for one version of a deployment (a woken canary scaled on its own):
the requests in flight on its replicas and held for it, its own requests per second and its
replicas' readings — not the other versions'."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import cast

import pytest
from prometheus_client import CollectorRegistry

from inferd.control.autoscale.coldstart import ColdStart
from inferd.control.autoscale.signals import GatewaySignals
from inferd.control.gateway import Gateway
from inferd.control.gateway.aggregate import ReplicaReading
from inferd.control.gateway.metrics import GatewayMetrics
from inferd.control.replicas.topology import DeploymentRoute, Replica, Topology, VersionRoute


def replica(version: str, n: int) -> Replica:
    return Replica(f"fraud-{version}-{n}", "fraud", version, "127.0.0.1", 1, "ready")


A = (replica("a", 1), replica("a", 2))
B = (replica("b", 1),)
TOPOLOGY = Topology(
    {
        "fraud": DeploymentRoute(
            "fraud",
            (
                VersionRoute("a", "fraud", "fraud:v1", 80, A),
                VersionRoute("b", "fraud", "fraud:v2", 20, B),
            ),
        )
    }
)


class FakeGateway:
    """Requests outstanding per replica (the proxy's count), metrics and replica readings."""

    def __init__(self) -> None:
        self.metrics = GatewayMetrics()
        self.proxy = SimpleNamespace(outstanding={"fraud-a-1": 4, "fraud-a-2": 3, "fraud-b-1": 2})
        self.readings = [ReplicaReading(A[0], queue_depth=5), ReplicaReading(B[0], queue_depth=1)]

    def in_flight(self, deployment: str) -> int:
        return sum(self.proxy.outstanding.values())

    async def replica_readings(self, deployment: str) -> list[ReplicaReading]:
        return self.readings


def signals(held: dict[tuple[str, str], int]) -> GatewaySignals:
    return GatewaySignals(
        cast(Gateway, FakeGateway()),
        lambda: TOPOLOGY,
        held=lambda d: sum(n for (name, _), n in held.items() if name == d),
        held_for=lambda d, v: held.get((d, v), 0),
    )


@pytest.mark.parametrize(
    ("version", "metric", "expected"),
    [
        (None, "concurrency", 4 + 3 + 2 + 1.0),
        ("b", "concurrency", 2 + 1.0),  # its replica's, and the request held for it
        ("a", "concurrency", 4 + 3.0),
        (None, "queue_depth", 5 + 1 + 1.0),
        ("b", "queue_depth", 1 + 1.0),
    ],
)
def test_a_versions_own_signal(version: str | None, metric: str, expected: float) -> None:
    sample = asyncio.run(signals({("fraud", "b"): 1}).sample("fraud", metric, version))
    assert sample.value == pytest.approx(expected)


def test_a_versions_own_requests_per_second_and_idleness() -> None:
    gateway = FakeGateway()
    gateway.proxy.outstanding = {}
    now = [100.0]
    sampler = GatewaySignals(cast(Gateway, gateway), lambda: TOPOLOGY, clock=lambda: now[0])
    for version in ("a", "b"):
        asyncio.run(sampler.sample("fraud", "rps", version))  # the baselines
    for _ in range(6):
        gateway.metrics.request("fraud", "a", 200, 0.01)
    now[0] = 102.0
    a = asyncio.run(sampler.sample("fraud", "rps", "a"))
    b = asyncio.run(sampler.sample("fraud", "rps", "b"))
    assert (a.value, a.idle_s) == (3.0, 0.0)
    assert (b.value, b.idle_s) == (0.0, 2.0)  # idle since its first sample
    sampler.forget("fraud", "b")
    assert asyncio.run(sampler.sample("fraud", "rps", "b")).idle_s == 0.0  # sampled afresh


def test_the_gateway_counts_the_requests_held_for_each_version() -> None:
    cold = ColdStart(lambda _: 5.0, lambda _: None, CollectorRegistry())

    async def scenario() -> None:
        held = [asyncio.ensure_future(cold.hold("fraud", v)) for v in ("b", "b", "a", None)]
        await asyncio.sleep(0.05)
        assert (cold.held("fraud"), cold.held_for("fraud", "b"), cold.held_for("fraud", "a")) == (
            4,
            2,
            1,
        )
        for request in held:
            request.cancel()
        await asyncio.gather(*held, return_exceptions=True)
        assert cold.held("fraud") == 0 and cold.held_for("fraud", "b") == 0

    asyncio.run(scenario())
