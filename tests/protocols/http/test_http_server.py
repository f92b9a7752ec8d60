"""The HTTP/1.1 layer over a real loopback socket: framing, limits, timeouts, shutdown."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Iterator

import httpx
import orjson
import pytest

from inferd.errors import Unavailable
from inferd.protocols.http import HttpServer, Router
from inferd.protocols.http.body import NO_BODY
from protocols.http.conftest import closed, read_responses


@pytest.fixture
def connect(data_server) -> Iterator[Callable[[], socket.socket]]:
    """Open raw client sockets to the data server; all are closed at teardown."""
    opened: list[socket.socket] = []

    def open_one() -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", data_server.port), timeout=5)
        opened.append(sock)
        return sock

    yield open_one
    for sock in opened:
        sock.close()


def _infer_bytes(model: str, value: float, extra: str = "") -> bytes:
    tensor = {"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [value]}
    body = orjson.dumps({"inputs": [tensor]})
    return (
        f"POST /v2/models/{model}/infer HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


def test_keep_alive_serves_many_requests_on_one_connection(data_server, connect):
    with httpx.Client(base_url=data_server.url) as client:
        for _ in range(5):
            assert client.get("/v2/health/live").json() == {"live": True}
        assert len(data_server.server.connections) == 1


def test_pipelined_requests_are_answered_in_order(data_server, connect):
    sock = connect()
    # The slow request first: a fast one behind it must still be answered second.
    sock.sendall(_infer_bytes("slow", 1.0) + _infer_bytes("echo", 2.0) + _infer_bytes("echo", 3.0))
    responses = read_responses(sock, 3)
    values = [orjson.loads(body)["outputs"][0]["data"][0] for _, _, body in responses]
    assert [status for status, _, _ in responses] == [200, 200, 200]
    assert values == [1.0, 2.0, 3.0]
    sock.close()


def test_connection_close_is_honoured(data_server, connect):
    sock = connect()
    sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    [(status, headers, _)] = read_responses(sock, 1)
    assert status == 200
    assert headers["connection"] == "close"
    assert closed(sock)


def test_http_1_0_without_keep_alive_closes(data_server, connect):
    sock = connect()
    sock.sendall(b"GET /v2/health/live HTTP/1.0\r\n\r\n")
    [(status, _, _)] = read_responses(sock, 1)
    assert status == 200
    assert closed(sock)


def test_oversize_content_length_is_refused_before_the_body(data_server, connect):
    sock = connect()
    sock.sendall(
        b"POST /v2/models/echo/infer HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000000\r\n\r\n"
    )
    [(status, _, body)] = read_responses(sock, 1)
    assert status == 413
    assert "exceeds the limit of 65536 bytes" in orjson.loads(body)["error"]
    assert closed(sock)


def test_oversize_chunked_body_is_refused_once_the_limit_is_crossed(data_server, connect):
    sock = connect()
    sock.sendall(
        b"POST /v2/models/echo/infer HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"4000\r\n" + b"x" * 0x4000 + b"\r\n"
    sent = 0
    status = None
    try:
        while sent < 64 * 1024 * 1024:
            sock.sendall(chunk)
            sent += 0x4000
    except (BrokenPipeError, ConnectionResetError):
        pass
    responses = read_responses(sock, 1)
    if responses:
        status = responses[0][0]
    assert status == 413
    # The server closed soon after the limit (plus socket buffers), not after the whole stream.
    assert sent < 16 * 1024 * 1024


def test_many_tiny_chunks_are_parsed(data_server, connect):
    body = orjson.dumps(
        {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [7]}]}
    )
    chunks = b"".join(b"1\r\n" + body[i : i + 1] + b"\r\n" for i in range(len(body))) + b"0\r\n\r\n"
    sock = connect()
    head = b"POST /v2/models/echo/infer HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    sock.sendall(head + chunks)
    [(status, _, answer)] = read_responses(sock, 1)
    assert status == 200
    assert orjson.loads(answer)["outputs"][0]["data"] == [7.0]


def test_too_many_or_too_large_headers_get_431(data_server, connect):
    sock = connect()
    many = "".join(f"X-H{i}: v\r\n" for i in range(150))
    sock.sendall(f"GET /v2/health/live HTTP/1.1\r\nHost: t\r\n{many}\r\n".encode())
    [(status, _, body)] = read_responses(sock, 1)
    assert status == 431
    assert "request headers" in orjson.loads(body)["error"]
    sock = connect()
    sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 8000 + b"\r\n\r\n")
    [(status, _, _)] = read_responses(sock, 1)
    assert status == 431


def test_a_long_request_target_gets_414_not_431(data_server, connect):
    """A 70 KB URL (a query string built from data) is URI Too Long (RFC 9110 15.5.15)."""
    sock = connect()
    target = b"/v2/models/echo?q=" + b"a" * 70_000
    sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: t\r\n\r\n")
    [(status, _, body)] = read_responses(sock, 1)
    assert status == 414
    message = orjson.loads(body)["error"]
    assert "request target" in message and "4096 bytes" in message
    assert closed(sock)


def test_malformed_http_gets_400_and_close(data_server, connect):
    sock = connect()
    sock.sendall(b"GARBAGE\x00\x01 / HTTP/9\r\n\r\n")
    [(status, _, body)] = read_responses(sock, 1)
    assert status == 400
    assert "malformed HTTP request" in orjson.loads(body)["error"]
    assert closed(sock)


def test_invalid_request_target_gets_400(data_server, connect):
    sock = connect()
    sock.sendall(b"GET http://[::1 HTTP/1.1\r\nHost: t\r\n\r\n")
    [(status, _, _)] = read_responses(sock, 1)
    assert status == 400


def test_expect_100_continue_gets_the_interim_answer(data_server, connect):
    body = orjson.dumps(
        {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [4]}]}
    )
    sock = connect()
    sock.sendall(
        b"POST /v2/models/echo/infer HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
    sock.sendall(body)
    [(status, _, answer)] = read_responses(sock, 1)
    assert status == 200
    assert orjson.loads(answer)["outputs"][0]["data"] == [4.0]


def test_slow_headers_are_cut_off(data_server, connect):
    sock = connect()
    sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: t\r\n")  # never finishes the headers
    responses = read_responses(sock, 1)
    assert responses[0][0] == 408
    assert closed(sock)


def test_idle_keep_alive_connections_areclosed(data_server, connect):
    sock = connect()
    sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: t\r\n\r\n")
    read_responses(sock, 1)
    sock.settimeout(5)
    assert closed(sock)  # header timeout (0.6 s) applies to the idle gap too


def test_slow_body_is_cut_off(data_server, connect):
    sock = connect()
    sock.sendall(b"POST /v2/models/echo/infer HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{")
    [(status, _, _)] = read_responses(sock, 1)
    assert status == 408


def test_unknown_route_is_404_and_wrong_method_is_405(data_server, connect):
    with httpx.Client(base_url=data_server.url) as client:
        missing = client.get("/nope")
        assert missing.status_code == 404
        assert "no route" in missing.json()["error"]
        wrong = client.delete("/v2/health/live")
        assert wrong.status_code == 405
        assert wrong.headers["allow"] == "GET, HEAD"
        # An unset $MODEL in a script: a 404 that points at the empty name, not a 405.
        unnamed = client.post("/v2/models//infer", json={"inputs": []})
        assert unnamed.status_code == 404
        assert "empty path segment" in unnamed.json()["error"]


def test_head_is_get_without_a_body(data_server, connect):
    """HEAD on a GET route answers GET's status and headers, the length GET's body would
    have, and no body, whatever the status; pipelined, the next answer must stay intact (a
    body after a HEAD answer was read as the start of the next response)."""
    sock = connect()
    heads = ["/v2/health/live", "/nope", "/v2/models/echo/infer"]
    sock.sendall(
        b"".join(f"HEAD {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode() for path in heads)
        + b"GET /v2/health/live HTTP/1.1\r\nHost: t\r\n\r\n"
    )
    data = b""
    while not data.endswith(b'{"live":true}'):
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    answers = data.split(b"HTTP/1.1 ")[1:]
    assert len(answers) == 4, data
    statuses = [int(a[:3]) for a in answers]
    assert statuses == [200, 404, 405, 200]
    for answer in answers[:3]:
        assert answer.endswith(b"\r\n\r\n"), answer  # headers only
    live = dict(
        line.split(": ", 1) for line in answers[0].decode().split("\r\n")[1:] if ": " in line
    )
    assert live["content-length"] == str(len(b'{"live":true}'))
    assert b"allow: POST" in answers[2]
    with httpx.Client(base_url=data_server.url) as client:
        head = client.head("/v2/health/live")
        assert (head.status_code, head.content) == (200, b"")


def test_disconnecting_client_cancels_its_request(data_server, connect):
    sock = connect()
    sock.sendall(_infer_bytes("slow", 1.0))
    deadline = time.monotonic() + 5
    while data_server.dataplane.started == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    sock.close()
    while data_server.dataplane.cancelled == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert data_server.dataplane.cancelled == 1
    assert data_server.dataplane.completed == 0


def test_graceful_stop_finishes_in_flight_and_closes_idle(data_server, connect):
    busy = connect()
    idle = connect()
    idle.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: t\r\n\r\n")
    read_responses(idle, 1)
    busy.sendall(_infer_bytes("slow", 5.0))
    deadline = time.monotonic() + 5
    while data_server.dataplane.started == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    data_server.stop(grace_s=5.0)
    [(status, headers, body)] = read_responses(busy, 1)
    assert status == 200
    assert headers["connection"] == "close"
    assert orjson.loads(body)["outputs"][0]["data"] == [5.0]
    assert closed(idle)
    assert closed(busy)
    try:
        refused = connect()
    except OSError:
        return  # refused outright: the listener is gone
    assert closed(refused)


def test_a_taken_port_is_a_clear_error(data_server):
    async def bind_again() -> None:
        other = HttpServer(Router(), data_server.server.limits)
        await other.start("127.0.0.1", data_server.port)

    future = asyncio.run_coroutine_threadsafe(bind_again(), data_server.loop)
    with pytest.raises(Unavailable, match=f"cannot listen on 127.0.0.1:{data_server.port}"):
        future.result(10)


def test_a_chunked_body_never_reaches_the_next_bodiless_request(data_server, connect):
    """Requests without a body share one empty reader; a chunked body gets its own, so the
    bodiless POST behind it on the same connection still has an empty body (400, not 200)."""
    body = orjson.dumps(
        {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [7]}]}
    )
    chunked = (
        b"POST /v2/models/echo/infer HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    )
    bodiless = b"POST /v2/models/echo/infer HTTP/1.1\r\nHost: t\r\n\r\n"
    sock = connect()
    sock.sendall(chunked + bodiless)
    (first, _, answer), (second, _, _) = read_responses(sock, 2)
    assert first == 200 and orjson.loads(answer)["outputs"][0]["data"] == [7.0]
    assert second == 400
    assert (NO_BODY.length, NO_BODY.value()) == (0, b"")
