"""Flow control and accounting over real loopback sockets: write backpressure and the write
timeout, the process's request-body budget, the connection limit, ``Content-Encoding: identity``
(compressed bodies: test_compressed_bodies.py), and a body sent as millions of 1-byte chunks
(R14)."""

from __future__ import annotations

import contextlib
import hashlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import orjson
import pytest

from inferd.config import LimitSettings
from protocols.conftest import Running
from protocols.http.conftest import BIG, closed, error_of, on_loop, read_responses

Connect = Callable[..., socket.socket]


@pytest.fixture
def connect() -> Iterator[Connect]:
    """``connect(running, rcvbuf=None)``: a raw client socket, closed at teardown."""
    opened: list[socket.socket] = []

    def open_one(running: Running, rcvbuf: int | None = None) -> socket.socket:
        sock = socket.socket()
        if rcvbuf is not None:  # before connect, so the window is small from the start
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(10)
        sock.connect(("127.0.0.1", running.port))
        opened.append(sock)
        return sock

    yield open_one
    for sock in opened:
        sock.close()


def wait_for(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def unsent_bytes(running: Running) -> list[int]:
    """Bytes each open connection has buffered but not yet written to its socket."""
    return on_loop(
        running,
        lambda: [
            c.transport.get_write_buffer_size()
            for c in running.server.connections
            if c.transport is not None
        ],
    )


def budget_used(running: Running) -> int:
    return on_loop(running, lambda: running.server.limits.budget.used)


def test_a_client_that_never_reads_is_bounded_and_then_disconnected(serve, connect):
    limits = LimitSettings(write_buffer_bytes=64 * 1024, write_timeout_s=1.0)
    running = serve(limits)
    stuck = connect(running, rcvbuf=4096)
    # 400 pipelined requests for 256 KiB each: 100 MiB of answers if nothing pushed back.
    stuck.sendall(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n" * 400)
    started = time.monotonic()
    peak = 0
    with httpx.Client(base_url=running.url) as healthy:
        while time.monotonic() - started < 0.7:
            peak = max([peak, *unsent_bytes(running)])
            assert healthy.get("/ping").json() == {"ok": True}  # others are still served
    # At most the high-water mark plus the one answer that crossed it.
    assert 0 < peak <= limits.write_buffer_bytes + len(BIG) + 4096
    # Not drained within write_timeout_s: disconnected (the healthy client has closed too).
    wait_for(lambda: not on_loop(running, lambda: len(running.server.connections)), 5.0)
    assert time.monotonic() - started >= limits.write_timeout_s
    received = 0
    with contextlib.suppress(ConnectionResetError):
        while chunk := stuck.recv(1 << 20):
            received += len(chunk)
    assert received < 100 * len(BIG)


def test_a_reader_that_drains_gets_every_answer(serve, connect):
    running = serve(LimitSettings(write_buffer_bytes=64 * 1024, write_timeout_s=5.0))
    sock = connect(running, rcvbuf=4096)
    sock.sendall(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n" * 200)
    answers = read_responses(sock, 200)
    assert [status for status, _, _ in answers] == [200] * 200
    assert all(body == BIG for _, _, body in answers)


def test_a_close_that_is_never_read_is_cut_at_the_write_timeout(serve, connect):
    running = serve(LimitSettings(write_buffer_bytes=16 * 1024, write_timeout_s=0.5))
    sock = connect(running, rcvbuf=4096)
    # 40 answers of 256 KiB, the last closing the connection: more than the socket buffers hold.
    sock.sendall(
        b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n" * 39
        + b"GET /big HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    wait_for(lambda: not on_loop(running, lambda: len(running.server.connections)), 5.0)


def _hold_request(size: int) -> bytes:
    return b"POST /hold HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % size + b"a" * size


def test_the_body_budget_refuses_with_503_and_is_given_back(serve, connect):
    limits = LimitSettings(max_body_bytes=64 * 1024, max_buffered_request_bytes=128 * 1024)
    running = serve(limits)
    held = [connect(running), connect(running)]
    for sock in held:
        sock.sendall(_hold_request(60_000))
    wait_for(lambda: budget_used(running) == 120_000)
    # A declared length that cannot fit is refused before its body is read ...
    late = connect(running)
    late.sendall(b"POST /hold HTTP/1.1\r\nHost: t\r\nContent-Length: 60000\r\n\r\n")
    [(status, headers, body)] = read_responses(late, 1)
    assert status == 503
    assert headers["retry-after"] == "1"
    assert "limits.max_buffered_request_bytes" in error_of(body)
    assert "131072 bytes" in error_of(body)
    assert closed(late)
    # ... and a chunked body is refused once the bytes read would overdraw the budget.
    chunked = connect(running)
    chunked.sendall(
        b"POST /hold HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"1000\r\n" + b"b" * 0x1000 + b"\r\n"
        + b"4000\r\n" + b"b" * 0x4000 + b"\r\n"
    )  # fmt: skip
    [(status, headers, _)] = read_responses(chunked, 1)
    assert status == 503
    assert headers["retry-after"] == "1"
    for sock in held:
        [(status, _, body)] = read_responses(sock, 1)
        assert (status, orjson.loads(body)) == (200, {"bytes": 60_000})
    # Answered or refused, every byte went back; the server takes a full-size body again.
    assert budget_used(running) == 0
    again = connect(running)
    again.sendall(_hold_request(64 * 1024))
    [(status, _, _)] = read_responses(again, 1)
    assert status == 200
    assert budget_used(running) == 0


@pytest.mark.parametrize(
    ("framing", "held"),
    [
        # A declared body's buffer is allocated, and charged, whole at its first chunk ...
        (b"Content-Length: 50000\r\n\r\n" + b"a" * 20_000, 50_000),
        # ... a chunked body's bytes as they are read.
        (b"Transfer-Encoding: chunked\r\n\r\n4e20\r\n" + b"a" * 20_000 + b"\r\n", 20_000),
    ],
)
def test_a_dropped_connection_gives_its_bytes_back(serve, connect, framing: bytes, held: int):
    running = serve(LimitSettings(max_body_bytes=64 * 1024))
    sock = connect(running)
    sock.sendall(b"POST /hold HTTP/1.1\r\nHost: t\r\n" + framing)
    wait_for(lambda: budget_used(running) == held)
    sock.close()
    wait_for(lambda: budget_used(running) == 0)


def test_a_declared_body_is_not_allocated_beyond_the_budget(serve, connect):
    """Three bodies pass the header check while nothing is held; each first chunk charges its
    whole declared size, so the third, which would overdraw the budget, is refused."""
    limits = LimitSettings(max_body_bytes=64 * 1024, max_buffered_request_bytes=128 * 1024)
    running = serve(limits)
    socks = [connect(running) for _ in range(3)]
    for sock in socks:
        sock.sendall(b"POST /hold HTTP/1.1\r\nHost: t\r\nContent-Length: 60000\r\n\r\n")
    time.sleep(0.2)  # every header is read while the budget is empty
    assert budget_used(running) == 0
    for sock in socks[:2]:
        sock.sendall(b"a")
    wait_for(lambda: budget_used(running) == 120_000)
    socks[2].sendall(b"a")
    [(status, headers, _)] = read_responses(socks[2], 1)
    assert (status, headers["retry-after"]) == (503, "1")
    assert budget_used(running) == 120_000
    for sock in socks[:2]:
        sock.sendall(b"a" * 59_999)
        [(status, _, body)] = read_responses(sock, 1)
        assert (status, orjson.loads(body)) == (200, {"bytes": 60_000})
    assert budget_used(running) == 0


def test_connections_beyond_the_limit_get_503_and_are_closed(serve, connect):
    running = serve(LimitSettings(max_connections=3))
    first = [connect(running) for _ in range(3)]
    wait_for(lambda: on_loop(running, lambda: len(running.server.connections)) == 3)
    extra = connect(running)
    started = time.monotonic()
    [(status, headers, body)] = read_responses(extra, 1)
    assert status == 503
    assert headers["retry-after"] == "1"
    assert headers["connection"] == "close"
    assert "limits.max_connections" in error_of(body)
    assert closed(extra)
    assert time.monotonic() - started < 1.0
    first[0].close()
    wait_for(lambda: on_loop(running, lambda: len(running.server.connections)) == 2)
    with httpx.Client(base_url=running.url) as client:
        assert client.get("/ping").status_code == 200


def test_identity_encoding_is_accepted(serve, connect):
    running = serve(LimitSettings())
    sock = connect(running)
    sock.sendall(
        b"POST /digest HTTP/1.1\r\nHost: t\r\nContent-Encoding: identity\r\nContent-Length: 3\r\n"
        b"\r\nabc"
    )
    [(status, _, answer)] = read_responses(sock, 1)
    assert (status, orjson.loads(answer)["bytes"]) == (200, 3)


def test_three_megabytes_of_one_byte_chunks_arrive_intact(serve, connect):
    """Triton CVE-2025-23310's shape: each chunk costs one parser callback and no object."""
    size = 3 * 1024 * 1024
    running = serve(LimitSettings(max_body_bytes=4 * 1024 * 1024, body_timeout_s=60.0))
    payload = bytes(range(256)) * (size // 256)
    framed = b"".join(b"1\r\n%c\r\n" % byte for byte in payload) + b"0\r\n\r\n"
    sock = connect(running)
    sock.settimeout(60)
    sock.sendall(b"POST /digest HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
    # Sent from another thread so the answer can be read as soon as it comes.
    sender = threading.Thread(target=sock.sendall, args=(framed,), daemon=True)
    started = time.monotonic()
    sender.start()
    [(status, _, answer)] = read_responses(sock, 1)
    elapsed = time.monotonic() - started
    sender.join(10)
    assert status == 200
    assert orjson.loads(answer) == {
        "sha256": hashlib.sha256(payload).hexdigest(),
        "bytes": size,
    }
    assert elapsed < 30  # linear: a few seconds on a loaded CI machine
    assert budget_used(running) == 0


def test_held_requests_keep_their_answers_in_order(serve, connect):
    """Pipelined requests beyond the pipeline depth wait in the backlog and still answer in
    order (one held for HOLD_S first, then many quick ones)."""
    running = serve(LimitSettings())
    sock = connect(running)
    quick = b"POST /digest HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\n"
    sock.sendall(_hold_request(10) + b"".join(quick + bytes([65 + i % 26]) for i in range(150)))
    answers = read_responses(sock, 151)
    assert orjson.loads(answers[0][2]) == {"bytes": 10}
    digests = [orjson.loads(body)["sha256"] for _, _, body in answers[1:]]
    assert digests == [hashlib.sha256(bytes([65 + i % 26])).hexdigest() for i in range(150)]


def test_an_error_answer_reaches_a_client_that_is_still_sending(serve, connect):
    """Lingering close: after a 431 the server half-closes and discards what still arrives, so
    the client reads its answer; a plain close would have answered its next bytes with a reset,
    losing the unread answer."""
    running = serve(LimitSettings(max_header_bytes=1024))
    sock = connect(running)
    sock.sendall(b"GET /ping HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"a" * 2048 + b"\r\n")
    time.sleep(0.2)  # answered and closing by now
    for _ in range(20):  # a client that goes on sending its head
        sock.sendall(b"X-More: " + b"a" * 990 + b"\r\n")
        time.sleep(0.01)
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:60]
    assert "request headers exceed 1024 bytes" in error_of(answer.split(b"\r\n\r\n", 1)[1])
