"""Helpers for the HTTP transport tests: raw-socket response reading, and a bare server over a
small router of its own (``serve(limits)``, on a real loopback socket) whose state ``on_loop``
reads safely."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TypeVar

import orjson
import pytest

from inferd.config import LimitSettings
from inferd.protocols.http import Request, Response, Router, StreamingResponse, json_response
from inferd.protocols.http.host import HttpLimits
from protocols.conftest import FakeDataPlane, Running, _finish, _start, _Thread

#: The body of ``GET /big``.
BIG = b"x" * (256 * 1024)
#: One chunk of ``GET /flood``: an SSE event of 16 KiB.
FLOOD_CHUNK = b"data: " + b"x" * (16 * 1024 - 8) + b"\n\n"
#: How long ``POST /hold`` keeps its request (and the request's body) before answering.
HOLD_S = 0.5

T = TypeVar("T")


class Seen:
    """What the handlers of :func:`transport_router` were asked."""

    def __init__(self) -> None:
        self.digests = 0
        #: The headers of the last ``POST /digest`` request, as its handler saw them.
        self.headers: dict[str, str] = {}
        #: ``GET /stream``: chunks it yielded, whether it was closed, and the gate it waits at.
        self.streamed = 0
        self.stream_closed = threading.Event()
        self.gate = threading.Event()
        #: ``GET /stream`` answers whose producer was told they will never be sent.
        self.abandoned = threading.Event()
        #: ``GET /flood``: chunks it yielded, and whether its producer was closed.
        self.flooded = 0
        self.flood_closed = threading.Event()


def transport_router(seen: Seen) -> Router:
    """``GET /ping``; ``GET /big`` (256 KiB); ``POST /digest`` (sha256 and length of the body);
    ``POST /hold`` (answers after :data:`HOLD_S`); ``GET /stream`` (a streaming answer that
    holds after its first chunk until ``seen.gate`` opens; ``?fail`` fails after the gate);
    ``GET /flood`` (a stream of :data:`FLOOD_CHUNK` chunks as fast as they are taken, without
    end: a generation that outruns its reader)."""

    async def ping(request: Request) -> Response:
        return json_response({"ok": True})

    async def big(request: Request) -> Response:
        return Response(200, BIG, content_type=b"application/octet-stream")

    async def digest(request: Request) -> Response:
        seen.digests += 1
        seen.headers = dict(request.headers)
        body = request.body
        return json_response({"sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)})

    async def hold(request: Request) -> Response:
        await asyncio.sleep(HOLD_S)
        return json_response({"bytes": len(request.body)})

    async def stream(request: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            try:
                yield b"first\n"
                seen.streamed += 1
                while not seen.gate.is_set():  # the test opens it once it read "first"
                    await asyncio.sleep(0.01)
                if request.query == "fail":
                    raise RuntimeError("the producer failed mid-stream")
                for i in range(3):
                    yield b"chunk %d\n" % i
                    seen.streamed += 1
            finally:
                seen.stream_closed.set()

        return StreamingResponse(
            200, content_type=b"text/plain", chunks=chunks(), abandon=seen.abandoned.set
        )

    async def flood(request: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            try:
                while True:
                    yield FLOOD_CHUNK
                    seen.flooded += 1
            finally:
                seen.flood_closed.set()

        return StreamingResponse(200, content_type=b"text/event-stream", chunks=chunks())

    router = Router()
    router.add("GET", "/ping", ping)
    router.add("GET", "/flood", flood)
    router.add("GET", "/stream", stream)
    router.add("GET", "/big", big)
    router.add("POST", "/digest", digest)
    router.add("POST", "/hold", hold)
    return router


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
def serve(seen: Seen) -> Iterator[Callable[[LimitSettings], Running]]:
    """Start a server over :func:`transport_router` with the given limits (stopped at teardown)."""
    started: list[tuple[Running, _Thread]] = []

    def start(limits: LimitSettings) -> Running:
        running, thread = _start(
            transport_router(seen), HttpLimits.from_settings(limits), FakeDataPlane()
        )
        started.append((running, thread))
        return running

    yield start
    for running, thread in started:
        _finish(running, thread)


@pytest.fixture
def connect() -> Iterator[Callable[[Running], socket.socket]]:
    """``connect(running)``: a raw client socket to that server (30 s timeout), closed at
    teardown."""
    opened: list[socket.socket] = []

    def open_one(running: Running) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", running.port), timeout=30)
        opened.append(sock)
        return sock

    yield open_one
    for sock in opened:
        sock.close()


def on_loop(running: Running, read: Callable[[], T]) -> T:
    """Call ``read`` on the server's event loop thread and return its result."""

    async def call() -> T:
        return read()

    return asyncio.run_coroutine_threadsafe(call(), running.loop).result(10)


def error_of(body: bytes) -> str:
    return str(orjson.loads(body)["error"])


def read_responses(sock: socket.socket, count: int) -> list[tuple[int, dict[str, str], bytes]]:
    """Read ``count`` complete responses (content-length framed) from ``sock``."""
    buf = b""
    out: list[tuple[int, dict[str, str], bytes]] = []
    while len(out) < count:
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                return out
            buf += chunk
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = int(headers["content-length"])
        while len(buf) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf += chunk
        out.append((status, headers, buf[:length]))
        buf = buf[length:]
    return out


def ask(running: Running, raw: bytes) -> tuple[int, bytes]:
    """Send ``raw`` on a connection of its own and read the one answer: its status and body."""
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as sock:
        sock.sendall(raw)
        [(status, _, body)] = read_responses(sock, 1)
    return status, body


def closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
