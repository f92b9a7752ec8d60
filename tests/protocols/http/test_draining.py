"""Shutdown without resets: during the drain the listener stays open and what connects is
answered 503 + Retry-After + Connection: close; at close, what waits in the accept queue is
answered too (RELIABILITY R1)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import orjson
import pytest

from inferd.protocols.http.draining import RETRY_AFTER_S
from inferd.protocols.http.flow import DRAIN_IDLE_S
from protocols.conftest import TEST_LIMITS, Running
from protocols.http.conftest import closed, error_of, read_responses


def _connect(running: Running) -> socket.socket:
    return socket.create_connection(("127.0.0.1", running.port), timeout=5)


def _assert_shutting_down(sock: socket.socket) -> None:
    [(status, headers, body)] = read_responses(sock, 1)
    assert status == 503
    assert headers["retry-after"] == str(RETRY_AFTER_S)
    assert headers["connection"] == "close"
    assert "shutting down" in error_of(body)
    assert sock.recv(1) == b""  # a clean end of stream (FIN), not a reset


def test_a_connection_opened_during_the_drain_gets_503_until_the_close(serve):
    running = serve(TEST_LIMITS)
    busy = _connect(running)
    busy.sendall(b"POST /hold HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi")
    time.sleep(0.1)  # /hold has it now: HOLD_S of work in flight
    draining = asyncio.run_coroutine_threadsafe(running.server.drain(5.0), running.loop)
    late: list[socket.socket] = []
    try:
        while not running.server.draining:
            time.sleep(0.005)
        late_get, late_post = _connect(running), _connect(running)
        late += [late_get, late_post]
        late_get.sendall(b"GET /ping HTTP/1.1\r\nHost: t\r\n\r\n")
        body = b"x" * 32 * 1024  # sent whole, never read: discarded while the answer lingers
        late_post.sendall(
            b"POST /digest HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        late_post.sendall(body)
        _assert_shutting_down(late_get)
        _assert_shutting_down(late_post)
        assert not draining.done(), "the drain waits for the request in flight"
        [(status, headers, answer)] = read_responses(busy, 1)
        assert (status, headers["connection"]) == (200, "close")
        assert orjson.loads(answer) == {"bytes": 2}
        assert closed(busy)
    finally:
        for sock in (busy, *late):
            sock.close()
        draining.result(10)
    asyncio.run_coroutine_threadsafe(running.server.close(), running.loop).result(10)
    with pytest.raises(ConnectionRefusedError):
        _connect(running)


def test_connections_waiting_in_the_accept_queue_at_close_are_answered_not_reset(serve):
    """The event loop is held while clients connect and send (the kernel queues them); the
    close that follows takes them in and answers them before the listener goes."""
    running = serve(TEST_LIMITS)
    held = threading.Event()

    async def hold_the_loop_then_close() -> None:
        held.set()
        time.sleep(0.5)  # blocks the loop on purpose: nothing is accepted meanwhile
        await running.server.close()

    closing = asyncio.run_coroutine_threadsafe(hold_the_loop_then_close(), running.loop)
    assert held.wait(5)
    queued = [_connect(running) for _ in range(3)]
    for sock in queued:
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: t\r\n\r\n")
    for sock in queued:
        _assert_shutting_down(sock)
        sock.close()
    closing.result(10)
    with pytest.raises(ConnectionRefusedError):
        _connect(running)


def test_a_head_still_arriving_at_close_gets_the_503(serve):
    running = serve(TEST_LIMITS)
    # No connection was open when the drain began: what connects now is late.
    asyncio.run_coroutine_threadsafe(running.server.drain(0.0), running.loop).result(10)
    sock = _connect(running)
    try:
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: t\r\n")  # the head never completes
        time.sleep(0.05)
        started = time.monotonic()
        closing = asyncio.run_coroutine_threadsafe(running.server.close(), running.loop)
        _assert_shutting_down(sock)
        assert time.monotonic() - started < DRAIN_IDLE_S + 1.0
    finally:
        sock.close()
    closing.result(10)
