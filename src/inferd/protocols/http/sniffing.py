"""A TLS port that answers plain HTTP.

A client that sends plain HTTP to a TLS port (``http://`` where ``https://`` was meant) would
see its connection dropped: the handshake fails on the first byte. Like nginx, the listener
answers it instead: ``400`` in plain text, "The plain HTTP request was sent to HTTPS port",
then a lingering close.

The TLS listener accepts plain TCP, and each connection's first read says what it speaks,
once per connection: a TLS record carrying a handshake (first byte 0x16) is handed, bytes and
all, to the event loop's own TLS protocol (uvloop's, or asyncio's on another loop), built as
``create_server(ssl=...)`` builds it, so the connection is then served exactly as before;
anything else is served by a :class:`PlainOnTls` connection, which refuses its first request
head. (The first byte cannot be peeked at instead of read: uvloop starts reading a connection
as soon as it is made.) Nothing of this runs per request.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import sys
from asyncio import sslproto
from collections.abc import Callable
from typing import Any, cast

from inferd.protocols.http.connection import HttpConnection
from inferd.protocols.http.host import ConnectionHost
from inferd.protocols.http.messages import Response
from inferd.protocols.http.refusal import Refusal

log = logging.getLogger(__name__)

#: The first byte of a TLS record carrying a handshake (the ClientHello).
HANDSHAKE = 0x16
PLAIN_HTTP = Response(
    400, b"The plain HTTP request was sent to HTTPS port\n", content_type=b"text/plain"
)


class PlainOnTls(HttpConnection):
    """A plain-text connection on a TLS port: its first request head gets :data:`PLAIN_HTTP`."""

    def on_headers_complete(self) -> None:
        raise Refusal(400, "plain HTTP on a TLS port", response=PLAIN_HTTP)


class TlsOrPlain(asyncio.BufferedProtocol):
    """A connection to a TLS port until its first read says what it speaks; one that sends
    nothing within ``header_timeout_s`` is closed."""

    def __init__(
        self,
        host: ConnectionHost[HttpConnection],
        tls: ssl.SSLContext,
        accept: Callable[[], asyncio.BaseProtocol],
    ) -> None:
        self._host = host
        self._tls = tls
        self._accept = accept
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._timer = self._host.loop.call_later(
            self._host.limits.header_timeout_s, self._transport.abort
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._timer is not None:
            self._timer.cancel()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._host.read_buffer

    def buffer_updated(self, nbytes: int) -> None:
        transport = self._transport
        if transport is None or nbytes == 0:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        read = self._host.read_buffer[:nbytes]
        if read[0] == HANDSHAKE:
            self._start_tls(transport, read)
            return
        conn = PlainOnTls(self._host)
        transport.set_protocol(conn)
        conn.connection_made(transport)
        conn.buffer_updated(nbytes)  # it reads into the same buffer: the bytes are there

    def _start_tls(self, transport: asyncio.Transport, read: memoryview) -> None:
        """Serve the connection over TLS from here, starting with the bytes read."""
        loop = self._host.loop
        waiter: asyncio.Future[Any] = loop.create_future()
        # Failed handshakes close the connection themselves, and are logged (debug) by it.
        waiter.add_done_callback(lambda done: done.cancelled() or done.exception())
        tls = _tls_protocol(loop)(
            loop,
            self._accept(),
            self._tls,
            waiter,
            server_side=True,
            ssl_handshake_timeout=self._host.limits.header_timeout_s,
        )
        transport.set_protocol(tls)
        tls.connection_made(transport)
        while read and not transport.is_closing():
            room = tls.get_buffer(len(read))
            n = min(len(room), len(read))
            room[:n] = read[:n]
            tls.buffer_updated(n)
            read = read[n:]


def _tls_protocol(loop: asyncio.AbstractEventLoop) -> Callable[..., sslproto.SSLProtocol]:
    """The TLS protocol ``create_server(ssl=...)`` would use on ``loop``: uvloop's, which its
    transports drive without a Python call per read, on a uvloop loop (uvloop is then loaded;
    there is none on Windows), else asyncio's."""
    uvloop = sys.modules.get("uvloop")
    if uvloop is not None and isinstance(loop, uvloop.Loop):
        return cast(Callable[..., sslproto.SSLProtocol], uvloop.loop.SSLProtocol)
    return sslproto.SSLProtocol
