"""Connections accepted while the server drains.

During a drain the listening socket stays open until the process exits: a connection the
kernel accepted would otherwise meet a refusal, or a reset when the listener closes with it
still in the backlog, and the client could not tell a stopping server from a dead one. Each
such connection is answered like any refused request (:meth:`HttpConnection._fail`): its first
request head gets 503 with ``Retry-After`` and ``Connection: close``, then a lingering close,
so the client reads the answer rather than a reset and retries elsewhere.

At exit the listener closes (:func:`close_listening`) after taking in what its accept queue
holds: those connections are answered too, and only one that completes its handshake in the
microseconds between that last accept and the close still meets the kernel's reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
from collections.abc import Callable

from inferd.protocols.http.connection import HttpConnection
from inferd.protocols.http.refusal import Refusal

log = logging.getLogger(__name__)

#: Seconds a client is told to wait before it retries (behind a load balancer, elsewhere).
RETRY_AFTER_S = 1


def shutting_down() -> Refusal:
    """What a request on a connection accepted during the drain is answered."""
    return Refusal(
        503,
        "the server is shutting down and takes no new requests; retry (another replica)",
        [(b"retry-after", str(RETRY_AFTER_S).encode())],
    )


class LateConnection(HttpConnection):
    """A connection accepted after the drain began: refused once its first head is read."""

    def on_headers_complete(self) -> None:
        raise shutting_down()

    def expire(self) -> None:
        """Cut off (a slow head, or the server closing): a head still arriving gets the 503
        too, not a 408; anything else closes."""
        if self._in_message and self.transport is not None:
            self._fail(shutting_down())
        else:
            super().expire()


async def close_listening(
    server: asyncio.Server,
    accept: Callable[[], asyncio.BaseProtocol],
    tls: ssl.SSLContext | None,
    handshake_timeout_s: float,
) -> None:
    """Close ``server``'s listening sockets, serving with ``accept`` the connections already in
    their accept queues: closed with them, the kernel would reset each one (its client has
    sent its request by then and cannot tell whether it ran). The queue is emptied and the
    socket closed without yielding to the event loop, so nothing new can slip in between but
    what completes its handshake in those microseconds; a connection attempted after it is
    refused (nothing was sent)."""
    # Duplicates keep the sockets listening while the loop lets go of its own descriptors.
    listeners = [socket.socket(fileno=os.dup(s.fileno())) for s in server.sockets]
    server.close()
    queued: list[socket.socket] = []
    for listener in listeners:
        with listener:
            listener.setblocking(False)
            with contextlib.suppress(OSError):  # EAGAIN: empty; anything else: it is closing
                while True:
                    queued.append(listener.accept()[0])
    loop = asyncio.get_running_loop()
    timeout = handshake_timeout_s if tls is not None else None
    served = await asyncio.gather(
        *(
            loop.connect_accepted_socket(accept, conn, ssl=tls, ssl_handshake_timeout=timeout)
            for conn in queued
        ),
        return_exceptions=True,
    )
    for conn, outcome in zip(queued, served, strict=True):
        if isinstance(outcome, BaseException):  # a failed TLS handshake, a vanished peer
            log.debug("a connection queued at close was lost: %r", outcome)
            conn.close()
