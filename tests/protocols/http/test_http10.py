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


def _read_to_close(sock: socket.socket) -> bytes:
    data = b""
    while part := sock.recv(65536):
        data += part
    return data


def test_a_streaming_answer_to_http10_is_not_chunked_and_ends_with_the_close(serve, seen):
    """RFC 9112 6.1: chunked must not be sent to an HTTP/1.0 client, which would show the chunk
    sizes as part of the body; the body is delimited by closing the connection instead."""
    running = serve(LimitSettings())
    seen.gate.set()
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as sock:
        sock.sendall(b"GET /stream HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
        data = _read_to_close(sock)
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    assert lines[0].startswith("HTTP/1.1 200")
    assert "transfer-encoding" not in headers and "content-length" not in headers
    assert headers.get("connection") == "close"
    assert body == b"first\nchunk 0\nchunk 1\nchunk 2\n"
    assert seen.stream_closed.wait(5)


def test_a_streaming_answer_to_http11_stays_chunked_and_kept_alive(serve, seen):
    running = serve(LimitSettings())
    seen.gate.set()
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as sock:
        sock.sendall(
            b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\nGET /ping HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        data = b""
        while b'{"ok":true}' not in data:
            part = sock.recv(65536)
            assert part, "the connection closed after the stream"
            data += part
    assert b"transfer-encoding: chunked\r\n" in data and b"0\r\n\r\n" in data


def test_an_http10_expectation_of_100_continue_is_ignored(serve):
    """RFC 9110 10.1.1: a server MUST ignore 100-continue in an HTTP/1.0 request (1.0 has no
    1xx answers: the client reads the interim answer as the final one)."""
    running = serve(LimitSettings())
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as sock:
        sock.sendall(
            b"POST /digest HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nab"
        )
        data = _read_to_close(sock)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n"), data
    assert b"100 Continue" not in data
