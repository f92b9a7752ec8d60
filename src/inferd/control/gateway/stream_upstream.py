"""Streamed responses from replicas: the body handed on piece by piece as it arrives.

The OpenAI relay needs a response as it is produced — a generation's Server-Sent Events — where
the pooled client of :mod:`.upstream` returns only whole responses. This is the same small
client (asyncio protocol, httptools' parser, keep-alive pools per replica) with a response that
is returned once its head arrived and whose body is read with :meth:`UpstreamStream.chunks`:
httptools undoes the chunked framing, so each piece is what the replica wrote. It replaced httpx
here for its cost per relayed event (docs/benchmarks.md, "Generation through the gateway").

A connection carries one request at a time and goes back to its pool once its response was read
to the end. A stream that is left before its end closes the connection, which is how the replica
learns that the client left and cancels the generation. A reader slower than the replica pauses
reading from it (backpressure) once :data:`HIGH_WATER` pieces wait.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator

from inferd.control.gateway.keepalive import (
    KeepAlivePool,
    ReplicaConnection,
    UpstreamFailed,
    UpstreamTimeout,
)
from inferd.control.gateway.upstream import UpstreamRequest, request_head

#: Pieces waiting for the reader before reading from the replica pauses, and resumes.
HIGH_WATER = 64
LOW_WATER = 16
#: Idle connections kept per replica.
MAX_IDLE = 64

_End = None | Exception


class UpstreamStream:
    """A replica's response: its status and headers, and its body as it arrives."""

    def __init__(self, conn: _StreamConnection, status: int, headers: dict[str, str]) -> None:
        self.status = status
        self.headers = headers
        self._conn = conn

    async def chunks(self, deadline: float | None = None) -> AsyncIterator[bytes]:
        """The body's pieces, as the replica wrote them; raises :class:`UpstreamFailed` when
        the connection breaks before the end, and :class:`UpstreamTimeout` when ``deadline``
        (the event loop's clock) passes before it."""
        while True:
            if deadline is None:
                piece = await self._conn.next_piece()
            else:
                try:
                    async with asyncio.timeout_at(deadline):
                        piece = await self._conn.next_piece()
                except TimeoutError:
                    raise UpstreamTimeout("the answer did not end by its deadline") from None
            if isinstance(piece, bytes):
                yield piece
            elif piece is None:
                return
            else:
                raise piece

    async def read(self, deadline: float | None = None) -> bytes:
        """The whole body (by ``deadline``, as :meth:`chunks`)."""
        return b"".join([piece async for piece in self.chunks(deadline)])

    def close(self) -> None:
        """Done with the response: the connection goes back to its pool when the body was read
        to its end, else it is closed (the replica sees the client leave)."""
        self._conn.finish()


class _StreamConnection(ReplicaConnection):
    """One keep-alive connection to a replica; one streamed request at a time."""

    def __init__(self, pool: StreamPool) -> None:
        super().__init__()
        self._pool = pool
        self._head: asyncio.Future[UpstreamStream] | None = None
        self._pieces: deque[bytes | _End] = deque()
        self._arrived: asyncio.Event = asyncio.Event()
        self._paused = False
        self._complete = False

    # -- httptools callbacks ------------------------------------------------------------------

    def on_headers_complete(self) -> None:
        head, self._head = self._head, None
        if head is not None and not head.done():
            head.set_result(UpstreamStream(self, self.parser.get_status_code(), self._headers))

    def on_body(self, body: bytes) -> None:
        self._push(body)
        if len(self._pieces) >= HIGH_WATER and self.transport is not None and not self._paused:
            self._paused = True
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        self._complete = True
        self.reusable = bool(self.parser.should_keep_alive())
        self._push(None)

    # -- client side --------------------------------------------------------------------------

    def send(self, head: bytes, body: bytes | bytearray) -> asyncio.Future[UpstreamStream]:
        assert self.transport is not None and self._head is None
        self._headers, self._complete, self.reusable = {}, False, False
        self._pieces.clear()
        self._head = asyncio.get_running_loop().create_future()
        self.transport.write(head + body)
        return self._head

    async def next_piece(self) -> bytes | _End:
        while not self._pieces:
            self._arrived.clear()
            await self._arrived.wait()
        piece = self._pieces.popleft()
        if self._paused and len(self._pieces) <= LOW_WATER and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return piece

    def finish(self) -> None:
        if self._complete and not self._pieces:
            self._pool.release(self)
        else:
            self.close()

    def _push(self, piece: bytes | _End) -> None:
        self._pieces.append(piece)
        self._arrived.set()

    def _fail(self, why: str) -> None:
        head, self._head = self._head, None
        if head is not None and not head.done():
            head.set_exception(UpstreamFailed(why))
        elif not self._complete:
            self._push(UpstreamFailed(why))


class StreamPool(KeepAlivePool[_StreamConnection]):
    """Keep-alive connections for streamed requests to one replica (``host:port``)."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port, lambda: _StreamConnection(self), MAX_IDLE)

    async def open(self, request: UpstreamRequest, timeout: float) -> UpstreamStream:
        """Send ``request`` and return its response once its head arrived (within ``timeout``
        seconds: connecting and the replica's first answer; the body has no time limit)."""
        head = request_head(request, self.host_header)
        try:
            async with asyncio.timeout(timeout):
                conn = await self.acquire()
                try:
                    return await conn.send(head, request.body)
                except BaseException:
                    conn.close()
                    raise
        except TimeoutError:
            raise UpstreamTimeout(f"no answer within {timeout:g} s") from None
