"""The replica client's timeouts: one timer for a pool's requests, in deadline order, against a
real socket server that answers some paths and never others."""

from __future__ import annotations

import asyncio
import time

import pytest

from inferd.control.gateway.keepalive import UpstreamTimeout
from inferd.control.gateway.upstream import ReplicaPool, UpstreamRequest

ANSWER = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


class _Replica(asyncio.Protocol):
    """Answers ``GET /fast`` at once and never answers ``GET /slow``."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if data.startswith(b"GET /fast "):
            self.transport.write(ANSWER)  # type: ignore[attr-defined]


async def _serving() -> tuple[asyncio.AbstractServer, int]:
    server = await asyncio.get_running_loop().create_server(_Replica, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_an_unanswered_request_times_out_and_its_connection_is_not_reused() -> None:
    async def scenario() -> None:
        server, port = await _serving()
        pool = ReplicaPool("127.0.0.1", port)
        try:
            began = time.monotonic()
            with pytest.raises(UpstreamTimeout, match=r"no answer within 0\.2 s"):
                await pool.request(UpstreamRequest("GET", "/slow"), 0.2)
            assert 0.15 <= time.monotonic() - began < 2
            assert pool.idle_connection() is None  # closed, not kept for the next request
            answer = await pool.request(UpstreamRequest("GET", "/fast"), 0.2)
            assert (answer.status, answer.body) == (200, b"{}")
        finally:
            pool.close()
            server.close()

    asyncio.run(scenario())


def test_a_shorter_timeout_behind_a_longer_one_expires_on_time() -> None:
    async def scenario() -> None:
        server, port = await _serving()
        pool = ReplicaPool("127.0.0.1", port)
        try:
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
        finally:
            pool.close()
            server.close()

    asyncio.run(scenario())


def test_answered_requests_do_not_pile_up_and_never_expire() -> None:
    async def scenario() -> None:
        server, port = await _serving()
        pool = ReplicaPool("127.0.0.1", port)
        try:
            for _ in range(2_000):
                answer = await pool.request(UpstreamRequest("GET", "/fast"), 0.3)
                assert answer.status == 200
            # Answered requests leave the line as new ones join: it holds about what is in
            # flight, not every request of the last timeout.
            assert pool.pending_deadlines() <= 1
            await asyncio.sleep(0.4)  # past every deadline: nothing answered expires
            answer = await pool.request(UpstreamRequest("GET", "/fast"), 0.3)
            assert answer.status == 200
        finally:
            pool.close()
            server.close()

    asyncio.run(scenario())


def test_concurrent_requests_time_out_each_and_answered_ones_come_back() -> None:
    async def scenario() -> None:
        server, port = await _serving()
        pool = ReplicaPool("127.0.0.1", port)
        try:
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
        finally:
            pool.close()
            server.close()

    asyncio.run(scenario())
