"""The Python proxy floor: the least a Python HTTP/1.1 reverse proxy does per request.

    PYTHONPATH=bench .venv/bin/python bench/proxy_floor.py PORT UPSTREAM_PORT [--pipelined]

uvloop and httptools, as the gateway uses them, and nothing else: each client request is parsed
(httptools), written to an idle keep-alive connection to 127.0.0.1:UPSTREAM_PORT (a new one when
none is idle), the upstream's response is parsed (httptools, to find its end) and its bytes are
written back to the client unchanged. No routing, no header rewriting, no metrics, no timeouts, no
retries, no error handling beyond closing: it serves ``bench/gateway_bench.py``'s load and nothing
else. Its CPU per proxied request, measured in the same run as the gateway's, is what no Python
gateway on this stack can go below (issue 15 asks for half the gateway's cost; this says how
much of the cost is the stack's own).

``--pipelined`` is the floor of a proxy that pipelines: every client request goes to one
keep-alive upstream connection, the requests of one event-loop turn in one write, and the
answers, which come back in order, are cut apart by their ``content-length`` (the replica always
sends one) and written back unchanged. One upstream write and read per turn instead of one per
request, on the replica's side too. No real gateway can do this safely for all traffic (a slow
or cancelled answer holds up every answer behind it on the connection, and a streamed one never
ends), so it bounds from below what even that design would cost.
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque

import httptools
import uvloop


class Upstream(asyncio.Protocol):
    """One keep-alive connection to the upstream; one request at a time."""

    def __init__(self, idle: deque[Upstream]) -> None:
        self.idle = idle
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.client: Client | None = None
        self.chunks: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, client: Client, data: bytes) -> None:
        assert self.transport is not None
        self.client = client
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.parser.feed_data(data)

    def on_message_complete(self) -> None:
        client, self.client = self.client, None
        answer = b"".join(self.chunks)
        self.chunks.clear()
        self.idle.append(self)
        if client is not None:
            client.answer(answer)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self in self.idle:
            self.idle.remove(self)
        if self.client is not None:
            self.client.close()


class Client(asyncio.Protocol):
    """One client connection; requests are answered one at a time (wrk does not pipeline)."""

    def __init__(self, proxy: Proxy | Pipeline) -> None:
        self.proxy = proxy
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.chunks: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.close()

    def on_message_complete(self) -> None:
        request = b"".join(self.chunks)
        self.chunks.clear()
        self.proxy.forward(self, request)

    def answer(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


class Proxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.idle: deque[Upstream] = deque()
        self.loop = asyncio.get_running_loop()

    def forward(self, client: Client, request: bytes) -> None:
        if self.idle:
            self.idle.pop().send(client, request)
        else:
            self.loop.create_task(self._connect(client, request))

    async def _connect(self, client: Client, request: bytes) -> None:
        _, upstream = await self.loop.create_connection(
            lambda: Upstream(self.idle), "127.0.0.1", self.upstream_port
        )
        upstream.send(client, request)


class Pipeline(asyncio.Protocol):
    """One upstream connection carrying every request, flushed once per loop turn."""

    def __init__(self, upstream_port: int) -> None:
        self.loop = asyncio.get_running_loop()
        self.upstream_port = upstream_port
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[Client] = deque()
        self.out: list[bytes] = []
        self.buffer = b""

    def forward(self, client: Client, request: bytes) -> None:
        self.waiting.append(client)
        if not self.out:
            self.loop.call_soon(self.flush)
        self.out.append(request)

    def flush(self) -> None:
        if self.transport is None:  # (re)connecting: the replica closes idle connections
            self.loop.create_task(self._connect())
            return
        self.transport.write(b"".join(self.out))
        self.out.clear()

    async def _connect(self) -> None:
        if self.transport is None:
            await self.loop.create_connection(lambda: self, "127.0.0.1", self.upstream_port)
        self.flush()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        start = 0
        while True:
            head_end = buffer.find(b"\r\n\r\n", start)
            if head_end < 0:
                break
            at = buffer.find(b"content-length:", start, head_end)
            length = int(buffer[at + 15 : buffer.find(b"\r\n", at)])
            end = head_end + 4 + length
            if end > len(buffer):
                break
            self.waiting.popleft().answer(buffer[start:end])
            start = end
        self.buffer = buffer[start:]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.buffer = b""
        while self.waiting:  # their answers are lost with the connection
            self.waiting.popleft().close()


async def serve(port: int, upstream_port: int, pipelined: bool) -> None:
    proxy = Pipeline(upstream_port) if pipelined else Proxy(upstream_port)
    server = await asyncio.get_running_loop().create_server(
        lambda: Client(proxy), "127.0.0.1", port, backlog=4096
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(serve(int(sys.argv[1]), int(sys.argv[2]), "--pipelined" in sys.argv[3:]))
