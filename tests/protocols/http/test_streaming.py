"""Streaming answers (``StreamingResponse``): chunks leave as they are produced, answers
pipelined behind a stream keep their order, and a client that goes away closes the producer."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable

from inferd.config import LimitSettings
from inferd.protocols.http.messages import StreamingResponse
from inferd.protocols.http.streaming import send_chunks, start_pump
from protocols.conftest import Running
from protocols.http.conftest import FLOOD_CHUNK, Seen


def _open(running: Running) -> socket.socket:
    return socket.create_connection(("127.0.0.1", running.port), timeout=10)


def _read_until(sock: socket.socket, marker: bytes, seen_so_far: bytes = b"") -> bytes:
    data = seen_so_far
    while marker not in data:
        part = sock.recv(65536)
        if not part:
            break
        data += part
    return data


def test_the_first_chunk_arrives_before_the_producer_finishes(
    serve: Callable[[LimitSettings], Running], seen: Seen
) -> None:
    running = serve(LimitSettings())
    with _open(running) as sock:
        # A second request pipelined behind the stream: answered after it, in order.
        sock.sendall(
            b"GET /stream HTTP/1.1\r\nhost: x\r\n\r\nGET /ping HTTP/1.1\r\nhost: x\r\n\r\n"
        )
        head = _read_until(sock, b"first\n")
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"transfer-encoding: chunked\r\n" in head
        assert b"6\r\nfirst\n\r\n" in head
        assert seen.streamed == 1  # held at the gate: the first chunk was not buffered
        seen.gate.set()
        rest = _read_until(sock, b'{"ok":true}', head)
    body = rest.split(b"\r\n\r\n", 1)[1]
    assert body.index(b"0\r\n\r\n") < body.index(b"HTTP/1.1 200 OK")
    for i in range(3):
        assert b"chunk %d\n" % i in body
    assert seen.streamed == 4 and seen.stream_closed.is_set()


def test_a_client_that_goes_away_closes_the_producer(
    serve: Callable[[LimitSettings], Running], seen: Seen
) -> None:
    running = serve(LimitSettings())
    sock = _open(running)
    sock.sendall(b"GET /stream HTTP/1.1\r\nhost: x\r\n\r\n")
    _read_until(sock, b"first\n")
    sock.close()
    assert seen.stream_closed.wait(5), "the producer was not closed when its client left"
    assert seen.streamed == 1  # it never got past the gate


def test_a_producer_that_fails_cuts_the_body_short(
    serve: Callable[[LimitSettings], Running], seen: Seen
) -> None:
    running = serve(LimitSettings())
    with _open(running) as sock:
        sock.sendall(b"GET /stream?fail HTTP/1.1\r\nhost: x\r\n\r\n")
        data = _read_until(sock, b"first\n")
        seen.gate.set()
        while part := sock.recv(65536):
            data += part
    # The connection was cut without the last chunk: the client can tell the body is incomplete.
    assert not data.endswith(b"0\r\n\r\n")
    assert seen.stream_closed.is_set()


def test_a_stream_waiting_its_turn_is_abandoned_when_its_client_leaves(
    serve: Callable[[LimitSettings], Running], seen: Seen
) -> None:
    running = serve(LimitSettings())
    sock = _open(running)
    # /hold answers after half a second; the stream behind it is ready at once but must wait.
    sock.sendall(
        b"POST /hold HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\n\r\nx"
        b"GET /stream HTTP/1.1\r\nhost: x\r\n\r\n"
    )
    time.sleep(0.1)
    sock.close()
    assert seen.abandoned.wait(5), "the waiting stream's producer was never told"
    assert seen.streamed == 0  # it never started


def test_a_stream_cut_short_is_abandoned_too(
    serve: Callable[[LimitSettings], Running], seen: Seen
) -> None:
    running = serve(LimitSettings())
    sock = _open(running)
    sock.sendall(b"GET /stream HTTP/1.1\r\nhost: x\r\n\r\n")
    _read_until(sock, b"first\n")
    sock.close()
    assert seen.abandoned.wait(5)
    assert seen.stream_closed.wait(5)


def test_a_reader_that_stops_pauses_its_stream_and_is_cut_at_the_write_timeout(
    serve: Callable[[LimitSettings], Running], seen: Seen
) -> None:
    """R34: a stream whose reader takes nothing holds at most the write buffer (its producer is
    no longer pulled), is cut after ``write_timeout_s`` with its producer closed, and another
    client's stream goes on meanwhile."""
    limits = LimitSettings(write_buffer_bytes=64 * 1024, write_timeout_s=1.0)
    running = serve(limits)
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.settimeout(10)
    slow.connect(("127.0.0.1", running.port))
    slow.sendall(b"GET /flood HTTP/1.1\r\nhost: x\r\n\r\n")
    slow.recv(1)  # the stream began; from here on nothing is read
    paused_at = _when_it_stops_growing(lambda: seen.flooded)
    held = paused_at * len(FLOOD_CHUNK)
    # What left the producer sits in the transport (write_buffer_bytes), the kernel's socket
    # buffers and the reader's window: bounded, however long the generation would run.
    assert held < 8 * 1024 * 1024, f"{held} bytes produced for a reader that reads nothing"
    with _open(running) as other:
        other.sendall(b"GET /stream HTTP/1.1\r\nhost: x\r\n\r\n")
        assert b"first\n" in _read_until(other, b"first\n")  # served while the other is stuck
        seen.gate.set()
        assert b"0\r\n\r\n" in _read_until(other, b"0\r\n\r\n")
    assert seen.flood_closed.wait(5), "the stuck stream was not cut at the write timeout"
    assert seen.flooded == paused_at  # nothing more was produced for it
    slow.close()


def _when_it_stops_growing(count: Callable[[], int], quiet_s: float = 0.3) -> int:
    """The value ``count`` settles at (unchanged for ``quiet_s``)."""
    deadline = time.monotonic() + 10
    last = -1
    while time.monotonic() < deadline:
        now = count()
        if now == last and now > 0:
            return now
        last = now
        time.sleep(quiet_s)
    raise AssertionError(f"still growing after 10 s: {count()}")


def test_a_pump_cancelled_before_its_first_step_abandons_its_stream() -> None:
    """The client leaves in the turn its stream's pump was created (after the handler answered,
    before the pump ran): cancelling a task that never started runs none of its code, so the
    producer (a generation) was told nothing and ran on for nobody."""
    told: list[str] = []

    async def chunks() -> AsyncIterator[bytes]:
        yield b"never sent"

    async def pump(response: StreamingResponse) -> None:
        await send_chunks(response, lambda: None, asyncio.Event())

    async def scenario() -> None:
        response = StreamingResponse(200, chunks=chunks(), abandon=lambda: told.append("abandoned"))
        task = start_pump(pump(response), response)
        task.cancel()  # in the same turn: the pump never runs
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)  # the producer's close, scheduled by the abandon
        assert told == ["abandoned"]

    asyncio.run(scenario())
