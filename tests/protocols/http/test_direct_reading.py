"""Direct reading over real loopback sockets: the rest of a big ``Content-Length`` body goes from
the socket straight into its buffer, the parser having never seen it, and the connection goes on
as if it had: the body arrives intact, pipelined requests behind it are answered in order,
``Connection: close`` is honoured, a stalled body is cut by the body timeout, and the budget is
held until the answer and then given back."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
import uvloop

from inferd.config import LimitSettings
from inferd.protocols.http import HttpServer
from inferd.protocols.http.body import BodyReader
from inferd.protocols.http.flow import TURN_BYTES
from inferd.protocols.http.host import HttpLimits
from protocols.access.certs import TestCA, install
from protocols.conftest import Running
from protocols.http.conftest import Seen, on_loop, read_responses, transport_router

Serve = Callable[[LimitSettings], Running]
LIMITS = LimitSettings(max_body_bytes=16 * 1024 * 1024, body_timeout_s=0.6)


def _post(body: bytes, *, close: bool = False, path: str = "/digest") -> bytes:
    connection = b"Connection: close\r\n" if close else b""
    head = b"POST %s HTTP/1.1\r\nHost: t\r\n%sContent-Length: %d\r\n\r\n"
    return head % (path.encode(), connection, len(body)) + body


def _connect(running: Running) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", running.port), timeout=10)
    return sock


def _digest(body: bytes) -> dict[str, object]:
    return {"sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}


def test_big_bodies_arrive_intact_and_pipelined_requests_behind_them_are_answered(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    rooms: list[int] = []
    room = BodyReader.room

    def counted(reader: BodyReader) -> memoryview:
        view = room(reader)
        rooms.append(len(view))
        return view

    monkeypatch.setattr(BodyReader, "room", counted)
    running = serve(LIMITS)
    bodies = [os.urandom(3 * 1024 * 1024 + 17), b"small", os.urandom(TURN_BYTES * 2), b""]
    with _connect(running) as sock:
        sock.sendall(b"".join(_post(b) for b in bodies) + b"GET /ping HTTP/1.1\r\nHost: t\r\n\r\n")
        answers = read_responses(sock, len(bodies) + 1)
    assert [status for status, _, _ in answers] == [200] * (len(bodies) + 1)
    assert [orjson.loads(a) for _, _, a in answers[:-1]] == [_digest(b) for b in bodies]
    assert orjson.loads(answers[-1][2]) == {"ok": True}
    assert on_loop(running, lambda: running.server.limits.budget.used) == 0
    assert rooms and rooms[0] > 2 * 1024 * 1024  # the first body's rest was read directly


def test_a_big_body_sent_slowly_in_pieces_arrives_intact(serve: Serve) -> None:
    running = serve(LIMITS)
    body = os.urandom(1024 * 1024)
    message = _post(body)
    with _connect(running) as sock:
        for start in range(0, len(message), 100_000):
            sock.sendall(message[start : start + 100_000])
            time.sleep(0.005)
        ((status, _, answer),) = read_responses(sock, 1)
    assert (status, orjson.loads(answer)) == (200, _digest(body))


def test_connection_close_after_a_big_body_is_honoured(serve: Serve) -> None:
    running = serve(LIMITS)
    body = os.urandom(512 * 1024)
    with _connect(running) as sock:
        sock.sendall(_post(body, close=True))
        ((status, headers, answer),) = read_responses(sock, 1)
        assert sock.recv(1) == b""  # closed by the server after its answer
    assert (status, headers["connection"], orjson.loads(answer)) == (200, "close", _digest(body))


def test_a_big_body_that_stalls_is_cut_by_the_body_timeout(serve: Serve) -> None:
    running = serve(LIMITS)
    message = _post(os.urandom(1024 * 1024))
    with _connect(running) as sock:
        sock.sendall(message[: len(message) // 2])
        ((status, _, answer),) = read_responses(sock, 1)
    assert status == 408
    assert b"not received in time" in answer
    assert on_loop(running, lambda: running.server.limits.budget.used) == 0


def test_a_big_body_over_tls_arrives_intact(tmp_path: Path) -> None:
    """TLS transports hand the protocol decrypted bytes through the same buffer calls."""
    cert, key = tmp_path / "tls.pem", tmp_path / "tls.key"
    ca = TestCA(tmp_path / "pki")
    install(ca.issue("localhost"), cert, key)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    loop = uvloop.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def boot() -> HttpServer:
        server = HttpServer(transport_router(Seen()), HttpLimits.from_settings(LIMITS))
        await server.start("127.0.0.1", 0, tls=server_context)
        return server

    server = asyncio.run_coroutine_threadsafe(boot(), loop).result(10)
    body = os.urandom(2 * 1024 * 1024 + 5)
    try:
        client_context = ssl.create_default_context(cafile=ca.path)
        client_context.check_hostname = False
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        with client_context.wrap_socket(raw) as sock:
            sock.sendall(_post(body) + _post(b"after"))
            answers = read_responses(sock, 2)
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(1.0), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
    assert [(s, orjson.loads(a)) for s, _, a in answers] == [
        (200, _digest(body)), (200, _digest(b"after"))
    ]  # fmt: skip
