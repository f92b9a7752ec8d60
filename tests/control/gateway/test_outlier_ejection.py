"""Passive outlier ejection through a real gateway: of a version's two replicas, the one that
keeps failing (500s, as a model that crashes and restarts over and over answers, or a refused
connection) is ejected after a few failures and gets no traffic while its sibling serves; it is
counted in ``/metrics`` and named in the status; it comes back after its ejection time; and a
version's last replica is never ejected, whatever it answers (fail open). gRPC ejects a replica
answering INTERNAL the same way."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import grpc
import httpx
import orjson

from inferd.control.gateway import Gateway
from inferd.control.gateway.grpc_upstream import GrpcProxy
from inferd.control.gateway.metrics import GatewayMetrics
from inferd.control.gateway.outliers import OutlierPolicy
from inferd.control.replicas.topology import Replica, VersionRoute

from .conftest import (
    FRAUD_BODY,
    ReplicaProcess,
    closed_port,
    content_length,
    deployment,
    fake_grpc_replica,
    run,
    sample,
    started_gateway,
    topology,
)

_BODY = orjson.dumps(FRAUD_BODY)


@dataclass
class Failing:
    """A replica answering 500 (``healthy``: 200) to every request, counting inferences."""

    requests: int = 0
    healthy: bool = False


async def failing_replica(state: Failing) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(content_length(head, default=0))
                if head.startswith(b"POST "):  # not the gateway's scrapes of /metrics
                    state.requests += 1
                status = b"200 OK" if state.healthy else b"500 Internal Server Error"
                body = b'{"outputs":[]}' if state.healthy else b'{"error":"the model crashed"}'
                writer.write(
                    b"HTTP/1.1 %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                    % (status, len(body), body)
                )
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def _version(good: ReplicaProcess, bad_port: int) -> VersionRoute:
    replicas = (
        good.replica("v1-0", "fraud", "v1"),
        Replica("v1-1", "fraud", "v1", "127.0.0.1", bad_port, "ready"),
    )
    return VersionRoute("v1", "fraud", "fraud:v1", 100, replicas)


def _alone(bad_port: int) -> VersionRoute:
    only = Replica("solo-0", "solo", "v1", "127.0.0.1", bad_port, "ready")
    return VersionRoute("v1", "fraud", "fraud:v1", 100, (only,))


async def _send(client: httpx.AsyncClient, path: str, n: int) -> list[int]:
    return [(await client.post(path, content=_BODY)).status_code for _ in range(n)]


def _ejections(gateway: Gateway, name: str) -> float:
    text = gateway.metrics.render().decode()
    return sample(text, "inferd_gateway_outlier_ejections_total", deployment=name, version="v1")


def test_a_failing_replica_is_ejected_while_its_sibling_serves(
    replicas: dict[str, list[ReplicaProcess]],
) -> None:
    good = replicas["v1"][0]

    async def scenario() -> None:
        bad, lone = Failing(), Failing()
        bad_server, lone_server = await failing_replica(bad), await failing_replica(lone)
        bad_port = bad_server.sockets[0].getsockname()[1]
        lone_port = lone_server.sockets[0].getsockname()[1]
        topo = topology(
            deployment("fraud", _version(good, bad_port)), deployment("solo", _alone(lone_port))
        )
        gateway = await started_gateway(topo)
        url = f"http://127.0.0.1:{gateway.port}"
        try:
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                # Until the failing replica has failed its 5 in a row, about 10 requests.
                first = await _send(client, "/v2/models/fraud/infer", 60)
                assert bad.requests == 5, first
                assert first.count(500) == 5 and first.count(200) == 55
                assert _ejections(gateway, "fraud") == 1
                after = bad.requests
                assert await _send(client, "/v2/models/fraud/infer", 100) == [200] * 100
                assert bad.requests == after  # ejected: no traffic while its sibling serves
                status = (await client.get("/api/status")).json()
                (fraud,) = [d for d in status["deployments"] if d["name"] == "fraud"]
                reasons = {r["id"]: r["reason"] for r in fraud["versions"][0]["replicas"]}
                assert reasons["v1-0"] is None
                assert "ejected by the gateway after 5 failures in a row" in reasons["v1-1"]
                assert ", ejection 1, back in " in reasons["v1-1"]
                # A version's only replica keeps its traffic, failing or not.
                assert await _send(client, "/v2/models/solo/infer", 20) == [500] * 20
                assert lone.requests == 20 and _ejections(gateway, "solo") == 0
                metrics = (await client.get("/metrics")).text
                assert (
                    'inferd_gateway_outlier_ejections_total{deployment="fraud",version="v1"} 1.0'
                    in metrics
                )
        finally:
            await gateway.stop(5)
            bad_server.close()
            lone_server.close()

    run(scenario)


def test_an_ejected_replica_comes_back_after_its_ejection_time(
    replicas: dict[str, list[ReplicaProcess]],
) -> None:
    good = replicas["v1"][0]

    async def scenario() -> None:
        bad = Failing()
        server = await failing_replica(bad)
        topo = topology(deployment("fraud", _version(good, server.sockets[0].getsockname()[1])))
        gateway = await started_gateway(topo)
        gateway.proxy.balance.policy = OutlierPolicy(consecutive_failures=3, base_ejection_s=0.3)
        url = f"http://127.0.0.1:{gateway.port}"
        try:
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                while _ejections(gateway, "fraud") < 1:
                    await _send(client, "/v2/models/fraud/infer", 1)
                assert bad.requests == 3
                bad.healthy = True  # its model stopped crashing
                deadline = time.monotonic() + 60  # a guard against a hang, not a measure
                while bad.requests == 3 and time.monotonic() < deadline:
                    assert await _send(client, "/v2/models/fraud/infer", 1) == [200]
                    await asyncio.sleep(0.02)
                assert bad.requests > 3  # back in rotation
                assert gateway.proxy.balance.ejection("v1-1") is None
        finally:
            await gateway.stop(5)
            server.close()

    run(scenario)


def test_a_replica_whose_connections_fail_is_ejected_too(
    replicas: dict[str, list[ReplicaProcess]],
) -> None:
    good = replicas["v1"][0]

    async def scenario() -> None:
        topo = topology(deployment("fraud", _version(good, closed_port())))
        gateway = await started_gateway(topo)
        # Each refusal avoids it for 2 s already (docs/gateway.md "Retries"): 2 in a row, 2 s.
        gateway.proxy.balance.policy = OutlierPolicy(consecutive_failures=2)
        url = f"http://127.0.0.1:{gateway.port}"
        try:
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                # Each refused connection is retried on the sibling: the client sees none.
                while _ejections(gateway, "fraud") < 1:
                    assert await _send(client, "/v2/models/fraud/infer", 1) == [200]
                assert gateway.proxy.balance.ejection("v1-1") is not None
        finally:
            await gateway.stop(5)

    run(scenario)


async def _grpc_replica(calls: list[str], name: str, *, fail: bool) -> tuple[grpc.aio.Server, int]:
    """A gRPC replica whose ModelInfer answers an empty response (``fail``: INTERNAL, as a
    model that crashed), recording ``name`` per call."""

    async def infer(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        calls.append(name)
        if fail:
            await context.abort(grpc.StatusCode.INTERNAL, "the model crashed")
        return b""

    return await fake_grpc_replica(infer)


def test_grpc_ejects_a_replica_answering_internal() -> None:
    async def scenario() -> tuple[list[str], list[str], float]:
        calls: list[str] = []
        good, good_port = await _grpc_replica(calls, "good", fail=False)
        bad, bad_port = await _grpc_replica(calls, "bad", fail=True)
        replicas = tuple(
            Replica(f"v1-{i}", "fraud", "v1", "127.0.0.1", 1, "ready", grpc_port=port)
            for i, port in enumerate((good_port, bad_port))
        )
        version = VersionRoute("v1", "fraud", "fraud:v1", 100, replicas)
        metrics = GatewayMetrics()
        proxy = GrpcProxy(metrics, 30.0, {})
        codes = []
        try:
            for _ in range(60):
                answer = await proxy.send("fraud", version, "ModelInfer", b"", ())
                codes.append(answer.code.name)
            ejections = sample(
                metrics.render().decode(),
                "inferd_gateway_outlier_ejections_total",
                deployment="fraud",
                version="v1",
            )
        finally:
            await proxy.close()
            await good.stop(0)
            await bad.stop(0)
        return calls, codes, ejections

    calls, codes, ejections = run(scenario)
    assert calls.count("bad") == 5 and codes.count("INTERNAL") == 5
    assert codes.count("OK") == 55 and ejections == 1
