"""HTTP/1.0 clients (ApacheBench ``ab -k``, old proxies): a connection stays open only when the
answer says ``Connection: keep-alive``; without it such a client waits for the server to close
the connection before it takes the answer as complete."""

from __future__ import annotations

import socket

from inferd.config import LimitSettings
from protocols.http.conftest import closed, read_responses


def _exchange(port: int, request: bytes) -> tuple[dict[str, str], socket.socket]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(request)
    [(status, headers, _)] = read_responses(sock, 1)
    assert status == 200
    return headers, sock


def test_an_http10_keep_alive_request_is_answered_keep_alive_and_the_connection_serves_on(serve):
    running = serve(LimitSettings())
    ask = b"GET /ping HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"
    headers, sock = _exchange(running.port, ask)
    with sock:
        assert headers.get("connection") == "keep-alive"
        sock.sendall(ask)
        [(status, again, _)] = read_responses(sock, 1)
        assert (status, again.get("connection")) == (200, "keep-alive")


def test_an_http10_request_without_keep_alive_is_closed_after_its_answer(serve):
    running = serve(LimitSettings())
    headers, sock = _exchange(running.port, b"GET /ping HTTP/1.0\r\n\r\n")
    with sock:
        assert headers.get("connection") == "close"
        assert closed(sock)


def test_http11_answers_carry_no_connection_header_while_kept_alive(serve):
    running = serve(LimitSettings())
    headers, sock = _exchange(running.port, b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
    with sock:
        assert "connection" not in headers
