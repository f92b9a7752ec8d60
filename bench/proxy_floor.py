"""The Python proxy floor: the least a Python HTTP/1.1 reverse proxy does per request.

    PYTHONPATH=bench .venv/bin/python bench/proxy_floor.py PORT UPSTREAM_PORT

uvloop and httptools, as the gateway uses them, and nothing else: each client request is parsed
(httptools), written to an idle keep-alive connection to 127.0.0.1:UPSTREAM_PORT (a new one when
none is idle), the upstream's response is parsed (httptools, to find its end) and its bytes are
written back to the client unchanged. No routing, no header rewriting, no metrics, no timeouts, no
retries, no error handling beyond closing: it serves ``bench/gateway_bench.py``'s load and nothing
else. Its CPU per proxied request, measured in the same run as the gateway's, is what no Python
gateway on this stack can go below (issue 15 asks for half the gateway's cost; this says how
much of the cost is the stack's own).
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

    def __init__(self, proxy: Proxy) -> None:
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


async def serve(port: int, upstream_port: int) -> None:
    proxy = Proxy(upstream_port)
    server = await asyncio.get_running_loop().create_server(
        lambda: Client(proxy), "127.0.0.1", port, backlog=4096
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(serve(int(sys.argv[1]), int(sys.argv[2])))
