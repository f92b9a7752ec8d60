"""The relay's streaming client against a real socket server: pieces arrive as the replica
writes them (chunked framing undone), a stream read to its end leaves its connection for the
next request, a stream left early closes it, and a replica that breaks off is reported."""

from __future__ import annotations

import asyncio

import pytest

from inferd.control.gateway.keepalive import UpstreamFailed
from inferd.control.gateway.stream_upstream import StreamPool
from inferd.control.gateway.upstream import UpstreamRequest

from .conftest import run

HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


class Replica:
    """Answers each request with ``pieces`` as chunks, ``pause`` seconds apart; counts the
    connections it accepted and those the client closed."""

    def __init__(self, pieces: list[bytes], pause: float = 0.0, cut: bool = False) -> None:
        self.pieces, self.pause, self.cut = pieces, pause, cut
        self.connections = 0
        self.closed_by_client = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                writer.write(HEAD)
                for piece in self.pieces:
                    writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    await writer.drain()
                    await asyncio.sleep(self.pause)
                if self.cut:
                    writer.close()
                    return
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            self.closed_by_client += 1
        finally:
            writer.close()


async def serving(replica: Replica) -> tuple[asyncio.Server, StreamPool]:
    server = await asyncio.start_server(replica.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, StreamPool("127.0.0.1", port)


REQUEST = UpstreamRequest("POST", "/v1/completions", (), b'{"model": "m"}')


def test_pieces_arrive_as_written_and_the_connection_is_reused() -> None:
    replica = Replica([b"data: one\n\n", b"data: two\n\n", b"data: [DONE]\n\n"], pause=0.01)

    async def scenario() -> list[list[bytes]]:
        server, pool = await serving(replica)
        got = []
        for _ in range(3):
            answer = await pool.open(REQUEST, 5)
            assert answer.status == 200 and answer.headers["content-type"] == "text/event-stream"
            got.append([piece async for piece in answer.chunks()])
            answer.close()
        pool.close()
        server.close()
        return got

    got = run(scenario)
    assert got == [[b"data: one\n\n", b"data: two\n\n", b"data: [DONE]\n\n"]] * 3
    assert replica.connections == 1  # read to the end: back to the pool, reused


def test_a_stream_left_early_closes_its_connection() -> None:
    replica = Replica([b"data: %d\n\n" % i for i in range(50)], pause=0.02)

    async def scenario() -> None:
        server, pool = await serving(replica)
        answer = await pool.open(REQUEST, 5)
        async for _ in answer.chunks():
            break
        answer.close()  # the client left: the replica must see its connection close
        for _ in range(100):
            if replica.closed_by_client:
                break
            await asyncio.sleep(0.02)
        second = await pool.open(REQUEST, 5)  # a new connection, not the abandoned one
        second.close()
        pool.close()
        server.close()

    run(scenario)
    assert replica.closed_by_client >= 1 and replica.connections == 2


def test_a_replica_that_breaks_off_is_reported() -> None:
    replica = Replica([b"data: one\n\n"], cut=True)

    async def scenario() -> None:
        server, pool = await serving(replica)
        answer = await pool.open(REQUEST, 5)
        with pytest.raises(UpstreamFailed, match="before a complete response"):
            await answer.read()
        answer.close()
        pool.close()
        server.close()

    run(scenario)
