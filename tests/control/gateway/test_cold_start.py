"""The gateway holding requests while a version cold-starts, in front of real replicas: the
wake is a callback that publishes the topology with the woken version ready, as the supervisor
does once the autoscaler's replica is up."""

from __future__ import annotations

import asyncio
import functools
from collections import Counter
from collections.abc import Awaitable, Callable

import httpx
import tritonclient.grpc.aio as tgrpc
import tritonclient.http as thttp
from prometheus_client import CollectorRegistry

from inferd.control.autoscale.coldstart import ColdStart
from inferd.control.gateway import Gateway
from inferd.control.gateway.grpc_gateway import GrpcGateway
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


def test_metadata_and_readiness_wake_a_deployment_at_zero(
    replicas: dict[str, list[ReplicaProcess]],
) -> None:
    """Clients ask for readiness and metadata before their first inference: at zero both
    answered 503 "no ready replica" (tritonclient's is_model_ready said False) and started
    nothing. Each now wakes the deployment and answers once it is ready."""
    at_zero = topology(deployment("fraud", asleep("v1", 100)))
    awake = topology(deployment("fraud", version("v1", 100, *replicas["v1"])), generation=2)
    paths = ("/v2/models/fraud/versions/v1", "/v2/models/fraud/versions/v1/ready",
             "/v1/models/fraud")  # fmt: skip

    async def scenario() -> list[tuple[object, list[str]]]:
        gateway = await started_gateway(at_zero)
        wakes: list[str] = []
        cold_start(gateway, awake, wakes)
        client = thttp.InferenceServerClient(f"127.0.0.1:{gateway.port}")
        answers: list[tuple[object, list[str]]] = []

        async def from_zero(ask: Callable[[], Awaitable[object]]) -> None:
            gateway.update(at_zero)
            wakes.clear()
            answers.append((await ask(), list(wakes)))

        try:
            await from_zero(functools.partial(asyncio.to_thread, client.is_model_ready, "fraud"))
            await from_zero(
                functools.partial(asyncio.to_thread, client.get_model_metadata, "fraud")
            )
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.port}") as c:
                for path in paths:
                    await from_zero(functools.partial(c.get, path))
        finally:
            client.close()
            await gateway.stop(5)
        return answers

    (ready, woke), (metadata, woke_too), *gets = run(scenario)
    assert ready is True and woke == ["fraud"]
    assert isinstance(metadata, dict) and metadata["name"] == "fraud"
    assert woke_too == ["fraud"]
    for (response, woken), path in zip(gets, paths, strict=True):
        assert isinstance(response, httpx.Response)
        assert response.status_code == 200, (path, response.text)
        assert woken == ["fraud"], path


def test_grpc_metadata_and_readiness_wake_a_deployment_at_zero(
    replicas: dict[str, list[ReplicaProcess]],
) -> None:
    """The same over the gateway's gRPC port: ModelReady answered ready=false and
    ModelMetadata UNAVAILABLE at zero, and neither started a replica."""
    at_zero = topology(deployment("fraud", asleep("v1", 100)))
    awake = topology(deployment("fraud", version("v1", 100, *replicas["v1"])), generation=2)

    async def scenario() -> list[tuple[object, list[str]]]:
        gateway = await started_gateway(at_zero)
        wakes: list[str] = []
        cold_start(gateway, awake, wakes)
        front = GrpcGateway(gateway, "127.0.0.1", 0)
        await front.start()
        client = tgrpc.InferenceServerClient(f"127.0.0.1:{front.port}")
        answers: list[tuple[object, list[str]]] = []
        try:
            for ask in (client.is_model_ready, client.get_model_metadata):
                gateway.update(at_zero)
                wakes.clear()
                answers.append((await ask("fraud"), list(wakes)))
        finally:
            await client.close()
            await front.stop(5)
            await gateway.stop(5)
        return answers

    (ready, woke), (metadata, woke_too) = run(scenario)
    assert ready is True and woke == ["fraud"]
    assert getattr(metadata, "name", None) == "fraud" and woke_too == ["fraud"]


def test_the_status_document_is_ready_when_the_gateway_is() -> None:
    """``/api/status`` said not ready for a deployment at zero that ``/v2/health/ready`` (its
    first request starts a replica) calls ready; the dashboard showed two red badges."""

    class Holds:
        def can_hold(self, deployment: str) -> bool:
            return True

        def needs_replica(self, deployment: str) -> bool:
            return False  # it scales from zero, and no start of it failed

    async def scenario() -> tuple[bool, bool, bool]:
        at_zero = VersionRoute("v1", "fraud", "fraud:v1", 100)
        gateway = await started_gateway(topology(deployment("fraud", at_zero)))
        try:
            closed = gateway.status()["ready"]
            gateway.cold_start = Holds()  # type: ignore[assignment]
            return closed, gateway.ready(), gateway.status()["ready"]
        finally:
            await gateway.stop(1)

    closed, ready, status = run(scenario)
    assert not closed
    assert ready and status
