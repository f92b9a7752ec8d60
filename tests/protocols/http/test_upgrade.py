"""``Upgrade`` (RFC 9110 7.8): a server may ignore it. ``curl --http2`` asks for h2c on plain
HTTP; the request is answered in HTTP/1.1 (as nginx does) and the connection goes on in
HTTP/1.1. What cannot be served so is refused, naming why."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator

import orjson
import pytest

from protocols.conftest import Running
from protocols.http.conftest import closed, read_responses

H2C = (
    b"GET /v2/health/live HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, HTTP2-Settings\r\n"
    b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n"
)
WEBSOCKET = (
    b"GET /v2/health/ready HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
READY = b"GET /v2/health/ready HTTP/1.1\r\nHost: t\r\n\r\n"
INFER = orjson.dumps({"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [5]}]})


@pytest.fixture
def sock(data_server: Running) -> Iterator[socket.socket]:
    with socket.create_connection(("127.0.0.1", data_server.port), timeout=5) as opened:
        yield opened


def test_an_h2c_upgrade_is_answered_in_http_1_1_and_the_connection_goes_on(
    sock: socket.socket,
) -> None:
    sock.sendall(H2C)
    [(status, _, body)] = read_responses(sock, 1)
    assert (status, orjson.loads(body)) == (200, {"live": True})
    sock.sendall(READY)  # the same connection, in HTTP/1.1
    [(status, _, _)] = read_responses(sock, 1)
    assert status == 200


def test_requests_pipelined_behind_an_upgrade_are_answered(sock: socket.socket) -> None:
    infer = b"POST /v2/models/echo/infer HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s"
    sock.sendall(WEBSOCKET + infer % (len(INFER), INFER) + H2C)
    answers = read_responses(sock, 3)
    assert [status for status, _, _ in answers] == [200, 200, 200]
    assert orjson.loads(answers[1][2])["outputs"][0]["data"] == [5.0]


@pytest.mark.parametrize(
    ("framing", "body"),
    [
        (b"Content-Length: %d\r\n" % len(INFER), INFER),
        (b"Transfer-Encoding: chunked\r\n", b"%x\r\n%s\r\n0\r\n\r\n" % (len(INFER), INFER)),
    ],
)
def test_an_upgrade_with_a_body_is_answered_with_the_body_read(
    sock: socket.socket, framing: bytes, body: bytes
) -> None:
    """``curl --http2 -d`` asks for h2c with its body: the body is read as HTTP/1.1."""
    sock.sendall(
        b"POST /v2/models/echo/infer HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, HTTP2-Settings"
        b"\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n" + framing + b"\r\n"
        + body + READY
    )  # fmt: skip
    [(status, _, answer), (ready, _, _)] = read_responses(sock, 2)
    assert status == 200, answer
    assert orjson.loads(answer)["outputs"][0]["data"] == [5.0]
    assert ready == 200, _


def test_an_upgrade_with_a_body_sent_in_pieces_is_read(sock: socket.socket) -> None:
    head = (
        b"POST /v2/models/echo/infer HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\n"
        b"Upgrade: websocket\r\nContent-Length: %d\r\n\r\n" % len(INFER)
    )
    sock.sendall(head + INFER[:5])
    sock.sendall(INFER[5:])
    [(status, _, answer)] = read_responses(sock, 1)
    assert status == 200, answer


def test_connect_is_refused(sock: socket.socket) -> None:
    sock.sendall(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
    [(status, _, body)] = read_responses(sock, 1)
    assert status == 400
    assert "CONNECT" in orjson.loads(body)["error"]
    assert closed(sock)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_http2_on_plain_http_gets_its_answer(data_server: Running) -> None:
    done = subprocess.run(
        ["curl", "-sS", "--http2", "-w", " %{http_code} %{http_version}",
         f"{data_server.url}/v2/health/live", f"{data_server.url}/v2/health/ready"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.stdout == '{"live":true} 200 1.1{"ready":true} 200 1.1', done.stderr
    posted = subprocess.run(
        ["curl", "-sS", "--http2", "-H", "Content-Type: application/json", "-d", INFER,
         f"{data_server.url}/v2/models/echo/infer"],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert orjson.loads(posted.stdout)["outputs"][0]["data"] == [5.0], posted.stderr
