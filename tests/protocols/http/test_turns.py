"""Turns: a connection that reads a big chunk stops reading until the event loop's next turn,
so one client's upload cannot hold every other connection (flow control item 5). Driven through
a fake transport, so what the connection asks of it is seen exactly."""

from __future__ import annotations

import asyncio

from inferd.config import LimitSettings
from inferd.protocols.http.connection import HttpConnection
from inferd.protocols.http.flow import TURN_BYTES
from inferd.protocols.http.host import HttpLimits
from inferd.protocols.http.router import Router
from inferd.protocols.http.server import HttpServer

HEAD = b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n"


class FakeTransport:
    def __init__(self) -> None:
        self.reading = True

    def set_write_buffer_limits(self, high: int) -> None:
        pass

    def get_extra_info(self, name: str) -> object:
        return ("127.0.0.1", 1)

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


def _read(connection: HttpConnection, data: bytes) -> None:
    """What the event loop does when the socket has ``data``: read it into the connection's
    buffer, one read per buffer it offers."""
    while data:
        buffer = connection.get_buffer(-1)
        n = min(len(buffer), len(data))
        buffer[:n] = data[:n]
        connection.buffer_updated(n)
        data = data[n:]


async def _connection() -> tuple[HttpConnection, FakeTransport]:
    server = HttpServer(Router(), HttpLimits.from_settings(LimitSettings()))
    connection = HttpConnection(server)
    transport = FakeTransport()
    connection.connection_made(transport)
    return connection, transport


def test_a_big_read_ends_the_turn_and_reading_resumes_on_the_next():
    async def scenario() -> list[bool]:
        connection, transport = await _connection()
        seen = []
        _read(connection, HEAD + b"a" * 1000)
        seen.append(transport.reading)  # a small read: the turn goes on
        _read(connection, b"a" * TURN_BYTES)
        seen.append(transport.reading)  # a big one ends it ...
        await asyncio.sleep(0)
        seen.append(transport.reading)  # ... until the next turn
        connection.connection_lost(None)
        return seen

    assert asyncio.run(scenario()) == [True, False, True]


def test_the_next_turn_leaves_a_flow_control_pause_alone():
    async def scenario() -> list[bool]:
        connection, transport = await _connection()
        seen = []
        _read(connection, HEAD + b"a" * TURN_BYTES)
        connection.pause_writing()  # unsent answers past the limit: reading pauses
        await asyncio.sleep(0)
        seen.append(transport.reading)
        connection.resume_writing()
        seen.append(transport.reading)
        connection.connection_lost(None)
        return seen

    assert asyncio.run(scenario()) == [False, True]
