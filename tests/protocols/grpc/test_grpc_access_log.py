"""The access log of a gRPC listener (:mod:`inferd.protocols.grpc.access_log`) on a real
loopback listener: a call of a method the service does not have, refused before any servicer
runs, is logged too (``UNIMPLEMENTED``), and answered as grpc answers it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import grpc
import orjson
import pytest

from inferd.protocols.grpc.server import start_listener
from inferd.protocols.http.access_log import AccessLog
from protocols.http.test_access_log import Lines, captured

SERVICE = "/inference.GRPCInferenceService"


async def _echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return request


@pytest.fixture
def port() -> Iterator[int]:
    """A listener serving ``ServerLive`` (an echo of raw bytes), access-logged in JSON."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    handlers = {"ServerLive": grpc.unary_unary_rpc_method_handler(_echo)}
    listening = start_listener(
        handlers, "127.0.0.1", 0, max_message_bytes=1 << 20, access=AccessLog("json")
    )
    handle = asyncio.run_coroutine_threadsafe(listening, loop).result(10)
    yield handle.port
    asyncio.run_coroutine_threadsafe(handle.stop(0), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


@pytest.fixture
def lines() -> Iterator[Lines]:
    with captured() as handler:
        yield handler


def test_a_method_the_service_lacks_is_logged_unimplemented(port: int, lines: Lines) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        assert channel.unary_unary(f"{SERVICE}/ServerLive")(b"hi", timeout=5) == b"hi"
        with pytest.raises(grpc.RpcError) as refused:
            channel.unary_unary(f"{SERVICE}/Nope")(b"hi", timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
        streaming = channel.stream_stream(f"{SERVICE}/NopeStream")(iter(()), timeout=5)
        with pytest.raises(grpc.RpcError) as streamed:
            next(streaming)
        assert streamed.value.code() == grpc.StatusCode.UNIMPLEMENTED
    got = [orjson.loads(line) for line in lines.wait(3)]
    assert [(e["path"], e["status"], e["protocol"]) for e in got] == [
        (f"{SERVICE}/ServerLive", "OK", "gRPC"),
        (f"{SERVICE}/Nope", "UNIMPLEMENTED", "gRPC"),
        (f"{SERVICE}/NopeStream", "UNIMPLEMENTED", "gRPC"),
    ], got
    assert all(e["client"].startswith("127.0.0.1:") for e in got)
