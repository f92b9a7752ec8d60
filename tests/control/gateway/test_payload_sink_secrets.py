"""An HTTP payload sink whose URL carries credentials (``http://user:password@collector/…``,
how basic auth to a collector is written) sends them, and never writes the password into the
gateway's log: a delivery that fails is logged with the URL it went to, minus the password.
And its ``timeout`` bounds a whole delivery."""

from __future__ import annotations

import asyncio
import base64

import pytest

from inferd.control.gateway.payloads.events import Payload
from inferd.control.gateway.payloads.sinks import HttpSink, SinkFailed
from inferd.spec.observability import HttpSinkSpec

from .conftest import closed_port

PASSWORD = "s3cret-Pa55"
PAYLOAD = Payload("request", "id1", 0.0, "fraud", "v1", "/v2/models/fraud/infer",
                  "application/json", b"{}")  # fmt: skip


def sink(port: int) -> HttpSink:
    url = f"http://collector:{PASSWORD}@127.0.0.1:{port}/events"
    return HttpSink(HttpSinkSpec.model_validate({"url": url, "timeout": "5s"}))


def failure(port: int) -> str:
    async def go() -> str:
        s = sink(port)
        try:
            with pytest.raises(SinkFailed) as caught:
                await s.deliver([PAYLOAD])
        finally:
            await s.close()
        return str(caught.value)

    return asyncio.run(go())


def test_a_sink_that_is_down_is_named_without_its_password() -> None:
    port = closed_port()
    message = failure(port)
    assert PASSWORD not in message
    assert f"127.0.0.1:{port}/events" in message


def test_a_refusing_sink_is_named_without_its_password_and_got_the_credentials() -> None:
    seen: list[bytes] = []

    async def go() -> str:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.append(await reader.readuntil(b"\r\n\r\n"))
            writer.write(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        s = sink(port)
        try:
            with pytest.raises(SinkFailed) as caught:
                await s.deliver([PAYLOAD])
        finally:
            await s.close()
            server.close()
        return str(caught.value)

    message = asyncio.run(go())
    assert PASSWORD not in message
    assert "503" in message
    token = base64.b64encode(f"collector:{PASSWORD}".encode()).decode()
    assert f"authorization: Basic {token}".lower() in seen[0].decode().lower()


def test_a_sink_that_trickles_its_answer_fails_after_the_timeout_in_all() -> None:
    """``timeout`` is the longest one delivery may take (docs/spec.md): a collector that keeps
    sending a byte of its answer now and then never passes httpx's per-read timeout, and held
    its delivery for good. The guard below fails a hang rather than measuring anything."""

    async def go() -> str:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\n")
            try:
                while True:  # a header line, a character every 0.2 s
                    for char in b"x-slow: yes\r\n":
                        writer.write(bytes([char]))
                        await writer.drain()
                        await asyncio.sleep(0.2)
            except (ConnectionError, asyncio.CancelledError):
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}/events"
        s = HttpSink(HttpSinkSpec.model_validate({"url": url, "timeout": "1s"}))
        try:
            with pytest.raises(SinkFailed) as caught:
                await asyncio.wait_for(s.deliver([PAYLOAD]), 60)
        finally:
            await s.close()
            server.close()
        return str(caught.value)

    assert "1 s" in asyncio.run(go())
