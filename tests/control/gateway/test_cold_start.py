"""The gateway holding requests while a version cold-starts, in front of real replicas: the
wake is a callback that publishes the topology with the woken version ready, as the supervisor
does once the autoscaler's replica is up."""

from __future__ import annotations

import asyncio
from collections import Counter

from prometheus_client import CollectorRegistry

from inferd.control.autoscale.coldstart import ColdStart
from inferd.control.gateway import Gateway
from inferd.control.replicas.topology import Topology, VersionRoute

from .conftest import (
    FRAUD_BODY,
    ReplicaProcess,
    closed_loop,
    deployment,
    run,
    started_gateway,
    topology,
    version,
)

#: How long the woken version takes to "start".
START_S = 0.3


def asleep(name: str, weight: float) -> VersionRoute:
    """A version scaled to zero (no replica at all) serving fraud:``name``."""
    return VersionRoute(name, "fraud", f"fraud:{name}", weight)


def cold_start(gateway: Gateway, woken: Topology, wakes: list[str]) -> ColdStart:
    """Hold requests for up to 10 s; the first wake publishes ``woken`` after :data:`START_S`."""

    def wake(name: str) -> None:
        if not wakes:
            asyncio.get_running_loop().call_later(START_S, publish)
        wakes.append(name)

    def publish() -> None:
        gateway.update(woken)
        cold.update(woken)

    cold = ColdStart(lambda _: 10.0, wake, CollectorRegistry())
    gateway.cold_start = cold
    return cold


def test_a_stable_version_at_zero_is_woken_and_takes_its_share(
    replicas: dict[str, list[ReplicaProcess]],
) -> None:
    """A canary at 20% beside a stable version scaled to zero: every request went to the
    canary and the stable version was never woken. Now requests routed to the stable version
    wake it and wait, and the split follows the weights."""
    canary = version("v2", 20, *replicas["v2"])
    at_zero = topology(deployment("fraud", asleep("v1", 80), canary))
    awake = topology(deployment("fraud", version("v1", 80, *replicas["v1"]), canary), generation=2)

    async def scenario() -> tuple[Counter[str], list[str], list[str]]:
        gateway = await started_gateway(at_zero)
        wakes: list[str] = []
        cold_start(gateway, awake, wakes)
        try:
            url = f"http://127.0.0.1:{gateway.port}/v2/models/fraud/infer"
            out = await closed_loop(url, FRAUD_BODY, concurrency=4, requests=300)
        finally:
            await gateway.stop(5)
        return Counter(out.versions), out.failed(), wakes

    versions, failed, wakes = run(scenario)
    assert failed == []
    assert wakes and set(wakes) == {"fraud"}
    assert 0.65 <= versions["v1"] / 300 <= 0.92, versions
