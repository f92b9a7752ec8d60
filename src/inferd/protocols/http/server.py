"""The listening side: sockets, dispatch, timeouts and graceful shutdown."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable, Coroutine
from functools import partial
from typing import cast

from inferd.errors import InferdError, Unavailable
from inferd.protocols.http import compressing, inflating
from inferd.protocols.http.connection import HttpConnection
from inferd.protocols.http.draining import LateConnection, close_listening
from inferd.protocols.http.flow import DRAIN_IDLE_S, LINGER_S, READ_BYTES
from inferd.protocols.http.host import HttpLimits
from inferd.protocols.http.messages import (
    HeadResponse,
    Request,
    Response,
    StreamingResponse,
    encode,
    error_for,
    error_response,
    response_for_error,
)
from inferd.protocols.http.reading import peer_address
from inferd.protocols.http.refusal import Guard as _Guard
from inferd.protocols.http.refusal import Refused, Screen
from inferd.protocols.http.router import Router
from inferd.protocols.http.sniffing import TlsOrPlain
from inferd.protocols.http.streaming import abandon

log = logging.getLogger(__name__)

#: How often slow and idle connections are looked for; a cut-off is late by at most this much.
SWEEP_INTERVAL_S = 0.5
#: Connections cut per turn of the event loop by the sweeper.
EXPIRE_BATCH = 64

#: The check of each request a server may be given (:mod:`.refusal`).
Guard = _Guard


class OverLimit(asyncio.Protocol):
    """A connection beyond ``limits.max_connections``: answered before any request is read, so
    the client learns why instead of seeing a reset, then closed (the listener keeps accepting,
    so refusals stay prompt)."""

    #: The access log's, when it is on: told of the refusal (:mod:`.refusal`).
    refused: Refused | None = None

    def __init__(self, answer: Response, encoded: bytes) -> None:
        self._answer = answer
        self._encoded = encoded

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.refused is not None:
            self.refused(
                peer_address(transport.get_extra_info("peername")), None, b"", self._answer
            )
        cast(asyncio.Transport, transport).write(self._encoded)
        transport.close()


class HttpServer:
    """Serves a :class:`Router` on one listening socket.

    Construct it inside the running event loop it will serve on. ``guard`` runs on every
    request's head, before its body is read, and again before its handler, and may answer
    instead of it (the control plane's authentication). Handlers raise
    :mod:`inferd.errors` exceptions; anything else is logged and answered with a bare 500 so no
    stack trace or path ever reaches a client.
    """

    def __init__(
        self,
        router: Router,
        limits: HttpLimits,
        guard: _Guard | None = None,
        screen: Screen | None = None,
    ) -> None:
        self.router = router
        self.limits = limits
        self.guard = guard
        #: Checks each request's head before its body is read (the API keys of a data plane).
        self.screen = screen
        self.loop = asyncio.get_running_loop()
        self.connections: set[HttpConnection] = set()
        #: What a connection beyond ``limits.max_connections`` is sent before it is closed.
        self.full = error_response(
            503,
            f"the server is at its limit of {limits.max_connections} connections "
            "(limits.max_connections); retry shortly",
            [(b"retry-after", b"1")],
        )
        self.full_answer = encode(self.full, keep_alive=False)
        #: Where every connection's socket reads (except bodies read directly): one read is
        #: parsed before the loop reads the next socket.
        self.read_buffer = memoryview(bytearray(READ_BYTES))
        self.draining = False
        self._server: asyncio.Server | None = None
        self._tls: ssl.SSLContext | None = None
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def start(
        self, host: str, port: int, *, reuse_port: bool = False, tls: ssl.SSLContext | None = None
    ) -> None:
        """Bind and listen (over TLS with ``tls``; a handshake has ``header_timeout_s``, and
        plain HTTP gets a 400 that says so, :mod:`.sniffing`). ``port`` 0 picks a free port
        (read it back from :attr:`port`). A port that cannot be bound raises
        :class:`~inferd.errors.Unavailable`."""
        accept: Callable[[], asyncio.BaseProtocol] = self._accept
        if tls is not None:
            accept = partial(TlsOrPlain, self, tls, self._accept)
        try:
            self._server = await self.loop.create_server(
                accept, host, port, reuse_port=reuse_port, backlog=1024
            )
        except OSError as exc:
            raise Unavailable(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        self._tls = tls
        for sock in self._server.sockets:
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sweeper = self.loop.create_task(self._sweep())

    def dispatch(self, request: Request) -> Coroutine[object, object, Response]:
        """Route one request and turn every failure into a protocol error response. A
        compressed body is inflated first (:mod:`.inflating`); the answer is compressed when
        the client asks (``Accept-Encoding``, :mod:`.compressing`). Not a coroutine itself:
        a request that does not ask runs :meth:`_answer` with no frame around it."""
        accept = request.headers.get("accept-encoding")
        if accept is None:
            return self._answer(request)
        return self._compressed(request, accept)

    async def _compressed(self, request: Request, accept: str) -> Response:
        return await compressing.compressed(await self._answer(request), accept)

    async def _answer(self, request: Request) -> Response:
        if "content-encoding" in request.headers:
            limits = self.limits
            return await inflating.dispatch(
                request, limits.budget, limits.max_body_bytes, self._answer
            )
        if request.method == "HEAD":
            return await self._head(request)
        route, params, allowed = self.router.match(request.method, request.path)
        if route is None:
            return _unrouted(request, allowed)
        if self.guard is not None:
            refusal = self.guard(request)
            if refusal is not None:
                return refusal
        request.params = params
        try:
            return await route.handler(request)
        except InferdError as exc:
            return response_for_error(exc)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("handler for %s %s failed", request.method, route.template)
            return error_response(500, "internal error")

    def judge_head(self, request: Request) -> Response | None:
        """The final answer to a request whose client waits for ``100 Continue`` before it
        sends the body, where the head decides it (RFC 9110 10.1.1): no route (404), a method
        not allowed (405), or what its route's head check refuses (an unknown model, a media
        type not spoken). None: the body is to be read. The guard has judged the head already."""
        method = "GET" if request.method == "HEAD" else request.method
        route, params, allowed = self.router.match(method, request.path)
        if route is None:
            return _unrouted(request, allowed)
        if route.head is None:
            return None
        request.params = params
        try:
            return route.head(request)
        except InferdError as exc:
            return response_for_error(exc)

    async def _head(self, request: Request) -> HeadResponse:
        """HEAD is GET without the body (RFC 9110 9.3.2) on every GET route, keys and all: the
        GET answer's status and headers, and no body, whatever the status (a body after a HEAD
        answer would be read as the start of the next response)."""
        request.method = "GET"
        answer = await self._answer(request)
        length: int | None = len(answer.body)
        if isinstance(answer, StreamingResponse):
            length = None
            abandon(answer)  # its chunks will never be sent
        return HeadResponse(answer.status, b"", answer.content_type, answer.headers, length)

    def _accept(self) -> HttpConnection | OverLimit:
        if len(self.connections) >= self.limits.max_connections:
            return OverLimit(self.full, self.full_answer)
        return LateConnection(self) if self.draining else HttpConnection(self)

    async def stop(self, grace_s: float) -> None:
        """Stop accepting at once (new connections are refused), then :meth:`drain` and
        :meth:`close`. To answer new connections 503 during the drain instead (the model
        server does), call :meth:`drain` first and :meth:`close` at exit."""
        if self._server is not None:
            self._server.close()
        await self.drain(grace_s)
        await self.close()

    async def drain(self, grace_s: float) -> None:
        """Let the requests of the connections open now finish (up to ``grace_s``), and abort
        those still open then. Each one's next answer carries ``Connection: close``; an idle
        one closes after :data:`~.flow.DRAIN_IDLE_S`. The listener keeps accepting: a new
        connection is answered 503 + ``Retry-After`` (:mod:`.draining`) until :meth:`close`."""
        self.draining = True
        earlier = list(self.connections)
        for conn in earlier:
            conn.start_draining()
        deadline = self.loop.time() + grace_s
        while earlier and self.loop.time() < deadline:
            await asyncio.sleep(0.02)
            earlier = [c for c in earlier if c.transport is not None]
        for conn in earlier:
            if conn.transport is not None:
                conn.transport.abort()

    async def close(self) -> None:
        """Stop accepting and close what is left: the connections accepted during the drain,
        which hold no work. Each gets :data:`~.flow.DRAIN_IDLE_S` to send its head, be answered
        and be closed by its client (closed before its request is read, a connection would
        reset and the client lose the answer); then a head still arriving gets its 503
        (:mod:`.draining`), and the rest close, or are cut :data:`~.flow.LINGER_S` later."""
        self.draining = True
        if self._server is not None and self._server.is_serving():
            await close_listening(
                self._server, self._accept, self._tls, self.limits.header_timeout_s
            )
        await self._until_closed(DRAIN_IDLE_S)
        for conn in list(self.connections):
            conn.expire()
        await self._until_closed(LINGER_S)
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._server is not None:
            await self._server.wait_closed()

    async def _until_closed(self, timeout_s: float) -> None:
        deadline = self.loop.time() + timeout_s
        while self.connections and self.loop.time() < deadline:
            await asyncio.sleep(0.01)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            now = self.loop.time()
            late = [c for c in self.connections if c.deadline is not None and now > c.deadline]
            # Thousands of slow connections opened together expire together: cut them in
            # batches so the requests of healthy clients are served in between.
            for i, conn in enumerate(late, 1):
                # Re-checked: a batch ago it may have closed or been given a new deadline.
                if conn.deadline is not None and self.loop.time() > conn.deadline:
                    conn.expire()
                if i % EXPIRE_BATCH == 0:
                    await asyncio.sleep(0)


def _unrouted(request: Request, allowed: list[str]) -> Response:
    """404 for a path no route serves; 405 (with ``Allow``) for a method it does not serve."""
    if allowed:
        if "GET" in allowed:
            allowed.append("HEAD")
        return error_for(
            request.path,
            405,
            f"method {request.method} not allowed on {request.path}",
            [(b"allow", ", ".join(sorted(set(allowed))).encode())],
        )
    hint = " (an empty path segment: is a name missing?)" if "//" in request.path else ""
    return error_for(request.path, 404, f"no route for {request.method} {request.path}{hint}")
