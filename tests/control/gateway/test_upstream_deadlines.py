"""The replica client's timeouts: one timer for a pool's requests, in deadline order, against a
real socket server that answers some paths and never others."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest

from inferd.control.gateway.keepalive import UpstreamTimeout
from inferd.control.gateway.upstream import ReplicaPool, UpstreamRequest

ANSWER = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


class _Replica(asyncio.Protocol):
    """Answers ``GET /fast`` at once and never answers ``GET /slow``; counts the connections
    its clients closed (``closed``, reset by :func:`_pool`)."""

    closed = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        _Replica.closed += 1

    def data_received(self, data: bytes) -> None:
        if data.startswith(b"GET /fast "):
            self.transport.write(ANSWER)  # type: ignore[attr-defined]


@contextlib.asynccontextmanager
async def _pool() -> AsyncIterator[ReplicaPool]:
    """A pool of connections to a fresh :class:`_Replica`; both closed afterwards."""
    _Replica.closed = 0
    server = await asyncio.get_running_loop().create_server(_Replica, "127.0.0.1", 0)
    pool = ReplicaPool("127.0.0.1", server.sockets[0].getsockname()[1])
    try:
        yield pool
    finally:
        pool.close()
        server.close()


def test_an_unanswered_request_times_out_and_its_connection_is_closed() -> None:
    async def scenario() -> None:
        async with _pool() as pool:
            began = time.monotonic()
            with pytest.raises(UpstreamTimeout, match=r"no answer within 0\.2 s"):
                await pool.request(UpstreamRequest("GET", "/slow"), 0.2)
            assert 0.15 <= time.monotonic() - began < 2
            for _ in range(100):  # the replica sees the timed-out connection closed
                if _Replica.closed:
                    break
                await asyncio.sleep(0.01)
            assert _Replica.closed == 1
            answer = await pool.request(UpstreamRequest("GET", "/fast"), 0.2)
            assert (answer.status, answer.body) == (200, b"{}")

    asyncio.run(scenario())


def test_a_shorter_timeout_behind_a_longer_one_expires_on_time() -> None:
    async def scenario() -> None:
        async with _pool() as pool:
            long = asyncio.ensure_future(pool.request(UpstreamRequest("GET", "/slow"), 30))
            await asyncio.sleep(0.05)  # in line first, due in 30 s
            began = time.monotonic()
            with pytest.raises(UpstreamTimeout):
                await pool.request(UpstreamRequest("GET", "/slow"), 0.2)
            assert time.monotonic() - began < 2
            assert not long.done()
            long.cancel()
            with pytest.raises(asyncio.CancelledError):
                await long

    asyncio.run(scenario())


def test_answered_requests_do_not_pile_up_and_never_expire() -> None:
    async def scenario() -> None:
        async with _pool() as pool:
            for _ in range(2_000):
                answer = await pool.request(UpstreamRequest("GET", "/fast"), 0.3)
                assert answer.status == 200
            # Answered requests leave the line as new ones join: it holds about what is in
            # flight, not every request of the last timeout.
            assert pool.pending_deadlines() <= 1
            await asyncio.sleep(0.4)  # past every deadline: nothing answered expires
            answer = await pool.request(UpstreamRequest("GET", "/fast"), 0.3)
            assert answer.status == 200

    asyncio.run(scenario())


def test_concurrent_requests_time_out_each_and_answered_ones_come_back() -> None:
    async def scenario() -> None:
        async with _pool() as pool:
            paths = ["/slow", "/fast"] * 10
            results = await asyncio.gather(
                *(pool.request(UpstreamRequest("GET", p), 0.3) for p in paths),
                return_exceptions=True,
            )
            for path, result in zip(paths, results, strict=True):
                if path == "/fast":
                    assert not isinstance(result, BaseException) and result.status == 200
                else:
                    assert isinstance(result, UpstreamTimeout)

    asyncio.run(scenario())
