"""A version at zero that takes no weighted traffic (weight 0) but that a request is routed to
all the same — by a header route, or by naming it in the path — is held for and woken, in
front of real replicas: the wake publishes a topology where the versions requests were held
for are ready, as the autoscaler's start does (it starts those :meth:`ColdStart.held_versions`
names)."""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client import CollectorRegistry

from inferd.control.autoscale.coldstart import ColdStart
from inferd.control.gateway import Gateway
from inferd.control.replicas.topology import DeploymentRoute, HeaderMatch, VersionRoute

from .conftest import FRAUD_BODY, ReplicaProcess, deployment, run, started_gateway, topology
from .conftest import version as running

BETA = (HeaderMatch("x-group", "beta", "v2"),)


def at_zero(name: str, weight: float) -> VersionRoute:
    return VersionRoute(name, "fraud", f"fraud:{name}", weight)


def fraud(v1: VersionRoute, v2: VersionRoute) -> DeploymentRoute:
    return deployment("fraud", v1, v2, header_routes=BETA)


def cold_start(
    gateway: Gateway, replicas: dict[str, list[ReplicaProcess]], v1: VersionRoute
) -> list[set[str]]:
    """Hold requests for up to 10 s; a wake starts v2 when requests are held for it (v1 stays
    as ``v1``). Returns what each wake saw held by name."""
    wakes: list[set[str]] = []

    def wake(name: str) -> None:
        held = cold.held_versions(name)
        wakes.append(held)
        if "v2" in held:
            asyncio.get_running_loop().call_later(0.1, publish)

    def publish() -> None:
        woken = topology(fraud(v1, running("v2", 0, *replicas["v2"])), generation=2)
        gateway.update(woken)
        cold.update(woken)

    cold = ColdStart(lambda _: 10.0, wake, CollectorRegistry())
    gateway.cold_start = cold
    return wakes


def test_a_header_route_to_a_version_at_zero_wakes_it_and_it_answers(
    replicas: dict[str, list[ReplicaProcess]],
) -> None:
    """v1 runs at weight 100, v2 is at zero at weight 0 with a header route: requests with
    ``x-group: beta`` were answered by v1 and v2 never started. They are now held while v2
    starts and answered by v2; the others still go to v1 at once."""
    v1 = running("v1", 100, *replicas["v1"])

    async def scenario() -> tuple[list[str], list[set[str]]]:
        gateway = await started_gateway(topology(fraud(v1, at_zero("v2", 0))))
        wakes = cold_start(gateway, replicas, v1)
        answered: list[str] = []
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.port}") as c:
                for headers in ({}, {"x-group": "beta"}, {"x-group": "beta"}):
                    r = await c.post("/v2/models/fraud/infer", json=FRAUD_BODY, headers=headers)
                    assert r.status_code == 200, r.text
                    answered.append(r.json()["model_version"])
        finally:
            await gateway.stop(5)
        return answered, wakes

    answered, wakes = run(scenario)
    assert answered == ["v1", "v2", "v2"]
    assert wakes == [{"v2"}]


def test_readiness_of_a_version_at_zero_wakes_that_version(
    replicas: dict[str, list[ReplicaProcess]],
) -> None:
    """``GET /v2/models/fraud/versions/v2/ready`` with both versions at zero woke the
    deployment for any version (v1), then answered 503 for v2. It now waits for v2 itself."""

    async def scenario() -> tuple[int, list[set[str]]]:
        gateway = await started_gateway(topology(fraud(at_zero("v1", 100), at_zero("v2", 0))))
        wakes = cold_start(gateway, replicas, at_zero("v1", 100))
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.port}") as c:
                status = (await c.get("/v2/models/fraud/versions/v2/ready")).status_code
        finally:
            await gateway.stop(5)
        return status, wakes

    status, wakes = run(scenario)
    assert status == 200
    assert wakes == [{"v2"}]
