"""Replicas that refuse, shed or hang: what the client sees and what is counted."""

from __future__ import annotations

import asyncio

import httpx

from inferd.control.replicas.topology import Replica, VersionRoute

from .conftest import (
    FRAUD_BODY,
    ReplicaProcess,
    closed_loop,
    closed_port,
    content_length,
    deployment,
    run,
    sample,
    started_gateway,
    topology,
)


async def shedding_server() -> asyncio.Server:
    """A replica that answers every request 503 + Retry-After, as a draining server does."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(content_length(head, default=0))
                body = b'{"error":"server is draining"}'
                writer.write(
                    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
                    b"retry-after: 1\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
                )
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def fraud_version(name: str, *ports: int, skip: int | None = None) -> VersionRoute:
    """Replicas of ``name`` at ``ports``, ids ``{name}-{i}`` (``skip``: an id not given, as
    of a replica replaced by the next)."""
    ids = [i for i in range(len(ports) + 1) if i != skip][: len(ports)]
    replicas = tuple(
        Replica(f"{name}-{i}", "fraud", name, "127.0.0.1", port, "ready")
        for i, port in zip(ids, ports, strict=True)
    )
    return VersionRoute(name, "fraud", f"fraud:{name}", 100, replicas)


def test_refused_and_shedding_replicas_are_retried_elsewhere(
    replicas: dict[str, list[ReplicaProcess]],
) -> None:
    good = replicas["v1"][0].port

    async def scenario() -> tuple[list[str], str]:
        shedding = await shedding_server()
        shed_port = shedding.sockets[0].getsockname()[1]
        shed = topology(deployment("fraud", fraud_version("v1", good, shed_port)))
        refused = topology(
            # The shedding replica replaced by another (its ejection as an outlier, after its
            # 503s in a row, is its own), which refuses connections.
            deployment("fraud", fraud_version("v1", good, closed_port(), skip=1)),
            generation=2,
        )
        gateway = await started_gateway(shed)
        url = f"http://127.0.0.1:{gateway.port}/v2/models/fraud/infer"
        try:
            out = await closed_loop(url, FRAUD_BODY, concurrency=4, requests=200)
            gateway.update(refused)
            more = await closed_loop(url, FRAUD_BODY, concurrency=4, requests=200)
            return out.failed() + more.failed(), gateway.metrics.render().decode()
        finally:
            await gateway.stop(5)
            shedding.close()

    failed, metrics = run(scenario)
    assert failed == []
    name = "inferd_gateway_upstream_retries_total"
    assert sample(metrics, name, deployment="fraud", version="v1", reason="unavailable") > 0
    # The refusing replica costs one retry, then is avoided while it keeps failing.
    assert 1 <= sample(metrics, name, deployment="fraud", version="v1", reason="connection") < 10


def test_only_replica_refusing_is_503_with_retry_after() -> None:
    topo = topology(deployment("fraud", fraud_version("v1", closed_port())))

    async def scenario() -> httpx.Response:
        gateway = await started_gateway(topo)
        try:
            async with httpx.AsyncClient() as client:
                return await client.post(
                    f"http://127.0.0.1:{gateway.port}/v2/models/fraud/infer", json=FRAUD_BODY
                )
        finally:
            await gateway.stop(5)

    response = run(scenario)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json() == {"error": "no replica of 'fraud' version 'v1' answered"}


def test_hanging_replica_times_out_with_504(hanging_port: int) -> None:
    topo = topology(deployment("fraud", fraud_version("v1", hanging_port)))

    async def scenario() -> tuple[httpx.Response, str]:
        gateway = await started_gateway(topo, request_timeout_s=0.3)
        try:
            async with httpx.AsyncClient() as client:
                response = await client.post(
                    f"http://127.0.0.1:{gateway.port}/v2/models/fraud/infer", json=FRAUD_BODY
                )
            return response, gateway.metrics.render().decode()
        finally:
            await gateway.stop(5)

    response, metrics = run(scenario)
    assert response.status_code == 504
    assert response.json() == {"error": "'fraud' version 'v1' did not answer within 0.3 s"}
    labels = {"deployment": "fraud", "version": "v1", "outcome": "deadline"}
    assert sample(metrics, "inferd_gateway_requests_total", **labels) == 1


def test_random_deployment_names_do_not_grow_the_series() -> None:
    async def scenario() -> tuple[str, str]:
        gateway = await started_gateway(topology())
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.port}") as c:
                await c.post("/v2/models/first/infer", json=FRAUD_BODY)
                before = gateway.metrics.render().decode()
                for i in range(300):
                    r = await c.post(f"/v2/models/random-{i}/infer", json=FRAUD_BODY)
                    assert r.status_code == 404
            return before, gateway.metrics.render().decode()
        finally:
            await gateway.stop(5)

    before, after = run(scenario)
    assert len(after.splitlines()) == len(before.splitlines())
    assert "random-" not in after
    labels = {"deployment": "unknown", "version": "", "outcome": "client_error"}
    assert sample(after, "inferd_gateway_requests_total", **labels) == 301
