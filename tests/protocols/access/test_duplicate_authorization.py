"""A request carrying more than one Authorization is refused, on REST and gRPC alike: RFC 9110
allows one, and REST took the last while gRPC took the first, so which key was checked
depended on the door (a way to slip a second key past a proxy that checks the first)."""

from __future__ import annotations

import socket
import ssl

import grpc
import orjson
import pytest

from control.gateway.conftest import run, started_gateway, topology
from inferd.control.gateway.grpc_gateway import GrpcGateway
from inferd.protocols._generated import inference_pb2 as pb
from inferd.protocols.grpc.servicer import SERVICE
from protocols.access.conftest import Door


def _tls_exchange(door: Door, head: bytes) -> tuple[int, bytes]:
    context = ssl.create_default_context(cafile=door.ca.path)
    with (
        socket.create_connection(("127.0.0.1", door.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as sock,
    ):
        sock.sendall(head)
        data = b""
        while part := sock.recv(65536):
            data += part
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1]


@pytest.mark.parametrize("order", ["echo,all", "all,echo"])
def test_rest_refuses_two_authorization_headers(door: Door, order: str) -> None:
    first, second = (door.tokens[name] for name in order.split(","))
    status, body = _tls_exchange(
        door,
        b"GET /v2/models/sum HTTP/1.1\r\nHost: x\r\n"
        b"Authorization: Bearer %s\r\nAuthorization: Bearer %s\r\n\r\n"
        % (str(first).encode(), str(second).encode()),
    )
    assert status == 400
    assert "more than one 'authorization' header" in orjson.loads(body)["error"]


def test_rest_refuses_two_host_headers(door: Door) -> None:
    status, body = _tls_exchange(
        door, b"GET /v2/health/live HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"
    )
    assert status == 400
    assert "more than one 'host' header" in orjson.loads(body)["error"]


def test_other_repeated_headers_still_pass(door: Door) -> None:
    status, _ = _tls_exchange(
        door,
        b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nAccept: a/b\r\nAccept: c/d\r\n"
        b"Connection: close\r\n\r\n",
    )
    assert status == 200


def _twice(first: str, second: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {first}"), ("authorization", f"Bearer {second}"))


@pytest.mark.parametrize("order", ["echo,all", "all,echo"])
def test_grpc_refuses_two_authorization_entries(door: Door, order: str) -> None:
    first, second = (door.tokens[name] for name in order.split(","))
    credentials = grpc.ssl_channel_credentials(door.ca.path.read_bytes())
    with grpc.secure_channel(f"localhost:{door.grpc_port}", credentials) as channel:
        call = channel.unary_unary(
            f"/{SERVICE}/ModelMetadata",
            request_serializer=pb.ModelMetadataRequest.SerializeToString,
            response_deserializer=pb.ModelMetadataResponse.FromString,
        )
        with pytest.raises(grpc.RpcError) as caught:
            call(pb.ModelMetadataRequest(name="sum"), metadata=_twice(first, second), timeout=10)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "more than one 'authorization'" in (caught.value.details() or "")


def test_the_gateways_grpc_refuses_two_authorization_entries() -> None:
    async def scenario() -> tuple[grpc.StatusCode, str]:
        gateway = await started_gateway(topology())
        front = GrpcGateway(gateway, "127.0.0.1", 0)
        await front.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{front.port}") as channel:
                call = channel.unary_unary(
                    f"/{SERVICE}/ServerLive",
                    request_serializer=pb.ServerLiveRequest.SerializeToString,
                    response_deserializer=pb.ServerLiveResponse.FromString,
                )
                try:
                    await call(pb.ServerLiveRequest(), metadata=_twice("a", "b"), timeout=10)
                except grpc.aio.AioRpcError as exc:
                    return exc.code(), exc.details() or ""
            raise AssertionError("two authorization entries were accepted")
        finally:
            await front.stop(1)
            await gateway.stop(1)

    code, details = run(scenario)
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert "more than one 'authorization'" in details
