"""Start and stop: port 0, draining in-flight requests, refusing new ones after stop."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest

from inferd.config import LimitSettings
from inferd.control.gateway import Gateway
from inferd.control.gateway.grpc_gateway import GrpcGateway
from inferd.control.replicas.topology import Replica, VersionRoute
from inferd.errors import Unavailable

from .conftest import FRAUD_BODY, deployment, run, started_gateway, topology

ANSWER = orjson.dumps({"model_name": "fraud", "model_version": "v1", "outputs": []})


async def slow_replica(delay: float) -> asyncio.Server:
    """A replica that answers every request after ``delay`` seconds."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (int(line.split(b":")[1]) for line in head.split(b"\r\n")
                     if line.lower().startswith(b"content-length:")), 0,
                )  # fmt: skip
                await reader.readexactly(length)
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


def test_stop_finishes_in_flight_requests_then_refuses() -> None:
    async def scenario() -> tuple[list[int], str]:
        replica = await slow_replica(0.4)
        port = replica.sockets[0].getsockname()[1]
        rep = Replica("v1-0", "fraud", "v1", "127.0.0.1", port, "ready")
        topo = topology(deployment("fraud", VersionRoute("v1", "fraud", "fraud:v1", 100, (rep,))))
        gateway = await started_gateway(topo)
        url = f"http://127.0.0.1:{gateway.port}/v2/models/fraud/infer"
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                in_flight = [
                    asyncio.create_task(client.post(url, json=FRAUD_BODY)) for _ in range(8)
                ]
                # Wait until all eight are at the replica (a fixed sleep can lose that race on
                # a loaded machine, and a request not yet in would rightly be refused).
                for _ in range(1000):
                    if sum(gateway.proxy.outstanding.values()) == 8:
                        break
                    await asyncio.sleep(0.01)
                assert sum(gateway.proxy.outstanding.values()) == 8
                stopping = asyncio.create_task(gateway.stop(5))
                answers = await asyncio.gather(*in_flight)
                await stopping
                try:
                    await client.post(url, json=FRAUD_BODY)
                    after = "answered"
                except httpx.ConnectError:
                    after = "refused"
            return [a.status_code for a in answers], after
        finally:
            replica.close()

    statuses, after = run(scenario)
    assert statuses == [200] * 8
    assert after == "refused"


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
