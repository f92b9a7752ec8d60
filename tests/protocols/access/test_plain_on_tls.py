"""Plain HTTP sent to a TLS port is answered, as nginx does, with a plain-text 400 that says so
(it met a dropped connection); TLS clients on the same port are served as before."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import socket
import ssl
import threading
from pathlib import Path

import orjson

from inferd.protocols.access.tls import CertificateFiles
from inferd.protocols.http import HttpServer
from inferd.protocols.http.host import HttpLimits
from inferd.protocols.v2.routes import data_router
from protocols.access.certs import TestCA, install
from protocols.access.conftest import Door
from protocols.conftest import TEST_LIMITS, FakeDataPlane, metrics_text


def _plain(door: Door, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", door.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while part := sock.recv(65536):
            data += part
    return data


def test_plain_http_to_the_tls_port_gets_a_400_that_says_so(door: Door) -> None:
    data = _plain(door, b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
    head, body = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n"), data
    assert b"content-type: text/plain" in head and b"connection: close" in head
    assert b"plain HTTP request was sent to HTTPS port" in body


def test_the_standard_client_names_the_problem(door: Door) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", door.port, timeout=10)
    conn.request("POST", "/v2/models/echo/infer", body=b"{}")
    answer = conn.getresponse()
    assert answer.status == 400
    assert b"HTTPS port" in answer.read()
    conn.close()


def test_tls_clients_are_served_as_before_keep_alive_and_all(door: Door) -> None:
    conn = door.https()
    for _ in range(3):
        conn.request("GET", "/v2/health/ready")
        answer = conn.getresponse()
        assert answer.status == 200
        answer.read()
    conn.close()
    status, _, body = door.get("/v2/models/echo", "echo")
    assert status == 200 and orjson.loads(body)["name"] == "echo"


def test_a_tls_client_that_sends_its_request_with_the_handshake_is_served(door: Door) -> None:
    """The request may arrive in the same read as the end of the handshake."""
    context = ssl.create_default_context(cafile=door.ca.path)
    for _ in range(20):
        with (
            socket.create_connection(("127.0.0.1", door.port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as sock,
        ):
            sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while part := sock.recv(65536):
                data += part
        assert data.startswith(b"HTTP/1.1 200 OK"), data


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(door: Door) -> None:
    with socket.create_connection(("127.0.0.1", door.port), timeout=10) as sock:
        assert sock.recv(1) == b""  # closed (header_timeout_s 0.6), not held open


def test_a_broken_handshake_is_closed_and_the_port_serves_on(door: Door) -> None:
    with socket.create_connection(("127.0.0.1", door.port), timeout=10) as sock:
        sock.sendall(b"\x16\x03\x01\x00\x05hello")
        with contextlib.suppress(ConnectionResetError):
            assert not sock.recv(65536).startswith(b"HTTP")  # a TLS alert, or the close
    assert door.get("/v2/health/live")[0] == 200


def test_the_same_on_asyncios_own_loop(tmp_path: Path) -> None:
    """Without uvloop (Windows), the TLS connections are handed to asyncio's TLS protocol."""
    ca = TestCA(tmp_path / "pki")
    install(ca.issue("first"), tmp_path / "tls.pem", tmp_path / "tls.key")
    files = CertificateFiles(tmp_path / "tls.pem", tmp_path / "tls.key")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def boot() -> HttpServer:
        router = data_router(FakeDataPlane(), TEST_LIMITS, metrics_text)
        server = HttpServer(router, HttpLimits.from_settings(TEST_LIMITS))
        await server.start("127.0.0.1", 0, tls=files.server_context())
        return server

    server = asyncio.run_coroutine_threadsafe(boot(), loop).result(10)
    try:
        context = ssl.create_default_context(cafile=ca.path)
        tls = http.client.HTTPSConnection("127.0.0.1", server.port, timeout=10, context=context)
        tls.request("GET", "/v2/health/live")
        assert tls.getresponse().status == 200
        tls.close()
        plain = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        plain.request("GET", "/v2/health/live")
        answer = plain.getresponse()
        assert (answer.status, b"HTTPS port" in answer.read()) == (400, True)
        plain.close()
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(1.0), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
