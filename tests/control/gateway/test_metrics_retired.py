"""A version that left the topology (an apply removed it, a rollout retired it) loses its
``inferd_gateway_*`` series once its requests are done: they stayed on /metrics until the
gateway restarted, one more set per rollout. One that comes back counts from 0, which the
controllers' readings take as a reset, as ``rate()`` does."""

from __future__ import annotations

import httpx

from inferd.control.gateway.metrics import GatewayMetrics
from inferd.control.gateway.readings import VersionTraffic
from inferd.control.replicas.topology import Replica, VersionRoute

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


def series_of(exposition: str, version: str) -> list[str]:
    """The gateway's own sample lines labelled with ``version`` (as version, primary or
    shadow)."""
    labels = (f'version="{version}"', f'primary="{version}"', f'shadow="{version}"')
    return [
        line
        for line in exposition.splitlines()
        if line.startswith("inferd_gateway_") and any(label in line for label in labels)
    ]


def test_a_removed_versions_series_leave_the_gateways_metrics(
    replicas: dict[str, list[ReplicaProcess]],
) -> None:
    v1 = version("v1", 50, *replicas["v1"])
    both = topology(deployment("fraud", v1, version("v2", 50, *replicas["v2"])))
    only_v1 = topology(deployment("fraud", version("v1", 100, *replicas["v1"])), generation=2)

    async def scenario() -> tuple[str, str]:
        gateway = await started_gateway(both)
        base = f"http://127.0.0.1:{gateway.port}"
        try:
            out = await closed_loop(
                f"{base}/v2/models/fraud/infer", FRAUD_BODY, concurrency=2, requests=40
            )
            assert out.failed() == [] and set(out.versions) == {"v1", "v2"}
            async with httpx.AsyncClient(base_url=base) as client:
                before = (await client.get("/metrics")).text
                gateway.update(only_v1)
                after = (await client.get("/metrics")).text
        finally:
            await gateway.stop(5)
        return before, after

    before, after = run(scenario)
    assert series_of(before, "v2")
    assert series_of(after, "v2") == []
    assert series_of(after, "v1") == series_of(before, "v1")


def test_a_retired_version_keeps_its_series_while_a_request_is_in_flight() -> None:
    metrics = GatewayMetrics()
    v1 = VersionRoute("v1", "fraud", "fraud:v1", 100)
    replica = Replica("fraud-v2-1", "fraud", "v2", "127.0.0.1", 1, "ready")
    v2 = VersionRoute("v2", "fraud", "fraud:v2", 0, (replica,))
    outstanding: dict[str, int] = {}
    metrics.routing(topology(deployment("fraud", v1, v2)), outstanding)
    metrics.request("fraud", "v2", 200, 0.01)
    metrics.retry("fraud", "v2", "connection")
    outstanding["fraud-v2-1"] = 1  # one more request on its way
    metrics.routing(topology(deployment("fraud", v1), generation=2), outstanding)
    assert series_of(metrics.render().decode(), "v2")
    metrics.request("fraud", "v2", 200, 0.01)  # it is answered
    del outstanding["fraud-v2-1"]
    assert series_of(metrics.render().decode(), "v2") == []
    assert ("fraud", "v2") not in metrics.reading().versions


def test_a_version_that_comes_back_at_zero_is_read_as_a_reset() -> None:
    before = VersionTraffic({"success": 40, "error": 2})
    again = VersionTraffic({"success": 3})
    assert again.since(before).outcomes == {"success": 3}
    assert VersionTraffic({"success": 45, "error": 2}).since(before).outcomes == {
        "success": 5,
        "error": 0,
    }
