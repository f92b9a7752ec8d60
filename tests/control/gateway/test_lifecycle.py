"""Start and stop: port 0, draining in-flight requests while new connections get 503, refusing
them once closed."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest
from tritonclient.grpc.aio import InferenceServerClient

from inferd.config import LimitSettings
from inferd.control.gateway import Gateway
from inferd.control.gateway.grpc_gateway import GrpcGateway
from inferd.control.replicas.topology import Replica, VersionRoute
from inferd.errors import Unavailable

from .conftest import FRAUD_BODY, content_length, deployment, run, started_gateway, topology
from .test_grpc_gateway import on_gateway

ANSWER = orjson.dumps({"model_name": "fraud", "model_version": "v1", "outputs": []})


async def slow_replica(delay: float) -> asyncio.Server:
    """A replica that answers every request after ``delay`` seconds."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(content_length(head, default=0))
                await asyncio.sleep(delay)
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b"content-length: %d\r\n\r\n%s" % (len(ANSWER), ANSWER)
                )
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:  # also when the loop ends with this handler still waiting (cancelled)
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def _raw_post(port: int) -> tuple[str, dict[str, str]]:
    """One inference request on a connection of its own: the status and headers answered, or
    the class of the transport error (a refusal, a reset)."""
    body = orjson.dumps(FRAUD_BODY)
    head = (
        b"POST /v2/models/fraud/infer HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json"
        b"\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(head + body)
            answer = await asyncio.wait_for(reader.read(), 5)
        finally:
            writer.close()
    except OSError as exc:
        return type(exc).__name__, {}
    status_line, *lines = answer.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines)}
    return status_line.split()[1], headers


def test_stop_finishes_in_flight_requests_and_answers_new_connections_503() -> None:
    """Behaviour since the gateway drains like the server (RELIABILITY R1): readiness false at
    once; a connection opened during the drain is answered 503 + Retry-After + Connection:
    close (it used to be refused), while every request in flight is answered 200; only once
    the gateway closes is a new connection refused."""

    async def scenario() -> tuple[list[int], bool, tuple[str, dict[str, str]], str]:
        replica = await slow_replica(0.4)
        port = replica.sockets[0].getsockname()[1]
        rep = Replica("v1-0", "fraud", "v1", "127.0.0.1", port, "ready")
        topo = topology(deployment("fraud", VersionRoute("v1", "fraud", "fraud:v1", 100, (rep,))))
        gateway = await started_gateway(topo)
        gw_port = gateway.port
        url = f"http://127.0.0.1:{gw_port}/v2/models/fraud/infer"
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                in_flight = [
                    asyncio.create_task(client.post(url, json=FRAUD_BODY)) for _ in range(8)
                ]
                # Wait until all eight are at the replica (a fixed sleep can lose that race on
                # a loaded machine, and a request not yet in would rightly be answered 503).
                for _ in range(1000):
                    if sum(gateway.proxy.outstanding.values()) == 8:
                        break
                    await asyncio.sleep(0.01)
                assert sum(gateway.proxy.outstanding.values()) == 8
                try:
                    draining = asyncio.create_task(gateway.drain(5))
                    await asyncio.sleep(0.05)
                    ready = gateway.ready()
                    during = await _raw_post(gw_port)
                    answers = await asyncio.gather(*in_flight)
                    await draining
                    await gateway.close()
                except BaseException:
                    await gateway.stop(1)
                    raise
                after, _ = await _raw_post(gw_port)
            return [a.status_code for a in answers], ready, during, after
        finally:
            replica.close()

    statuses, ready, (during, headers), after = run(scenario)
    assert statuses == [200] * 8
    assert ready is False
    assert during == "503"
    assert headers["retry-after"] == "1"
    assert headers["connection"] == "close"
    assert after == "ConnectionRefusedError"


def test_begin_drain_turns_readiness_off_while_requests_are_still_served() -> None:
    """The drain delay: readiness 503 at once (REST; gRPC's ServerReady reads the same), while
    inference is served as usual until the drain."""

    async def scenario() -> tuple[int, int, int, bool]:
        replica = await slow_replica(0.0)
        port = replica.sockets[0].getsockname()[1]
        rep = Replica("v1-0", "fraud", "v1", "127.0.0.1", port, "ready")
        topo = topology(deployment("fraud", VersionRoute("v1", "fraud", "fraud:v1", 100, (rep,))))
        gateway = await started_gateway(topo)
        base = f"http://127.0.0.1:{gateway.port}"
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                before = (await client.get(f"{base}/v2/health/ready")).status_code
                gateway.begin_drain()
                ready = (await client.get(f"{base}/v2/health/ready")).status_code
                infer = await client.post(f"{base}/v2/models/fraud/infer", json=FRAUD_BODY)
            return before, ready, infer.status_code, gateway.ready()
        finally:
            await gateway.stop(1)
            replica.close()

    assert run(scenario) == (200, 503, 200, False)


def test_begin_drain_turns_grpc_server_ready_off() -> None:
    rep = Replica("v1-0", "fraud", "v1", "127.0.0.1", 9, "ready")
    topo = topology(deployment("fraud", VersionRoute("v1", "fraud", "fraud:v1", 100, (rep,))))

    async def scenario(
        gateway: Gateway, front: GrpcGateway, client: InferenceServerClient
    ) -> tuple[bool, bool]:
        before = await client.is_server_ready()
        gateway.begin_drain()
        return before, await client.is_server_ready()

    assert on_gateway(topo, scenario) == (True, False)


def test_a_taken_port_is_unavailable_naming_the_address() -> None:
    async def scenario() -> str:
        first = await started_gateway(topology())
        try:
            second = Gateway("127.0.0.1", first.port, limits=LimitSettings())
            with pytest.raises(Unavailable) as caught:
                await second.start()
            return caught.value.message
        finally:
            await first.stop(1)

    message = run(scenario)
    assert message.startswith("cannot listen on 127.0.0.1:")
    assert "in use" in message


def test_public_surface() -> None:
    import inferd.control.gateway as package

    assert package.__all__ == ["Gateway", "GrpcGateway"]
    assert package.Gateway is Gateway
    assert package.GrpcGateway is GrpcGateway
