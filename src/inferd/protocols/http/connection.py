"""One client connection: an ``asyncio.Protocol`` driving ``httptools.HttpRequestParser``.

Requests on one connection are handled concurrently (each in its own task) but answered in the
order they arrived, as HTTP/1.1 pipelining requires. Limits are enforced while bytes arrive:
the body limit counts de-chunked bytes actually read, so a lying or absent Content-Length cannot
slip past it; oversize requests get 413/431 and the connection is closed. A connection that is
slow to send headers or a body is closed by the server's sweeper (see ``deadline``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, cast

import httptools

from inferd.errors import InferdError
from inferd.protocols.http.messages import (
    Request,
    Response,
    error_response,
    response_for_error,
    status_line,
)

if TYPE_CHECKING:
    from inferd.protocols.http.server import HttpServer

log = logging.getLogger(__name__)

#: Requests parsed but not yet answered, per connection, before reading pauses (backpressure).
MAX_PIPELINE = 64
#: How long an idle keep-alive connection stays open once the server drains.
DRAIN_IDLE_S = 0.5


class _Reject(Exception):
    """Raised inside a parser callback to stop parsing with a status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class HttpConnection(asyncio.Protocol):
    """Parses, dispatches and answers requests for one socket."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.limits = server.limits
        self.loop = server.loop
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.peer = ""
        #: Monotonic time after which the sweeper closes this connection; None: no read pending.
        self.deadline: float | None = None
        self._pending: deque[asyncio.Task[Response]] = deque()
        self._keep_alive: deque[bool] = deque()
        self._reading = True
        self._closing = False
        self._reset()

    def _reset(self) -> None:
        self._url = b""
        self._headers: dict[str, str] = {}
        self._header_bytes = 0
        self._body: list[bytes] = []
        self._body_len = 0
        self._in_message = False

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without inheriting from it.
        self.transport = cast(asyncio.Transport, transport)
        self.peer = _peer(transport.get_extra_info("peername"))
        self.server.connections.add(self)
        self.deadline = self.loop.time() + self.limits.header_timeout_s

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        self.transport = None
        # The client is gone: whatever it asked for is no longer wanted (the batcher drops
        # cancelled requests from its queue).
        for task in self._pending:
            task.cancel()
        self._pending.clear()
        self._keep_alive.clear()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, _Reject):
                self._fail(cause.status, cause.message)
            else:
                log.exception("HTTP request handling failed")
                self._fail(500, "internal error")
        except httptools.HttpParserUpgrade:
            self._fail(400, "protocol upgrades are not supported")
        except httptools.HttpParserError as exc:
            self._fail(400, f"malformed HTTP request: {exc}")

    # -- httptools callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._in_message = True
        self.deadline = self.loop.time() + self.limits.header_timeout_s

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._count_header_bytes(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_header_bytes(len(name) + len(value))
        if len(self._headers) >= self.limits.max_headers:
            raise _Reject(431, f"more than {self.limits.max_headers} request headers")
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        declared = self._headers.get("content-length")
        if (
            declared is not None
            and declared.isdigit()
            and int(declared) > self.limits.max_body_bytes
        ):
            raise _Reject(413, self._too_large())
        self.deadline = self.loop.time() + self.limits.body_timeout_s
        # curl sends "Expect: 100-continue" for bodies over 1 KiB and waits a second for this
        # interim answer; only a connection with nothing outstanding may send it (order).
        if (
            self._headers.get("expect", "").lower() == "100-continue"
            and not self._pending
            and self.transport is not None
        ):
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._body_len += len(body)
        if self._body_len > self.limits.max_body_bytes:
            raise _Reject(413, self._too_large())
        self._body.append(body)

    def on_message_complete(self) -> None:
        try:
            url = httptools.parse_url(self._url)
        except httptools.HttpParserInvalidURLError:
            raise _Reject(400, "invalid request target") from None
        path = url.path.decode("latin-1")
        query = url.query.decode("latin-1") if url.query else ""
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        request = Request(
            self.parser.get_method().decode("ascii"), path, query, self._headers, body,
            peer=self.peer,
        )  # fmt: skip
        keep_alive = bool(self.parser.should_keep_alive()) and not self.server.draining
        self._reset()
        self.deadline = None
        task = self.loop.create_task(self.server.dispatch(request))
        self._pending.append(task)
        self._keep_alive.append(keep_alive)
        task.add_done_callback(self._on_done)
        if len(self._pending) >= MAX_PIPELINE and self.transport is not None:
            self.transport.pause_reading()
            self._reading = False

    # -- answering ----------------------------------------------------------------------------

    def _on_done(self, _task: asyncio.Task[Response]) -> None:
        # Answer in arrival order: only the head of the queue may be written.
        while self._pending and self._pending[0].done() and self.transport is not None:
            task = self._pending.popleft()
            keep_alive = self._keep_alive.popleft()
            if task.cancelled():
                continue
            exc = task.exception()
            if exc is None:
                response = task.result()
            elif isinstance(exc, InferdError):
                response = response_for_error(exc)
            else:
                log.error("unhandled error in a handler", exc_info=exc)
                response = error_response(500, "internal error")
            final = not keep_alive or (self._closing and not self._pending)
            self._write(response, keep_alive=not final)
            if final:
                self._close()
                return
        if not self._pending and self.transport is not None:
            if self.server.draining and not self._in_message:
                self._close()
                return
            self.deadline = self.loop.time() + self.limits.header_timeout_s
        if (
            not self._reading
            and len(self._pending) < MAX_PIPELINE // 2
            and self.transport is not None
        ):
            self.transport.resume_reading()
            self._reading = True

    def _write(self, response: Response, keep_alive: bool) -> None:
        assert self.transport is not None
        body = response.body
        head = [
            status_line(response.status),
            b"content-type: %s\r\ncontent-length: %d\r\n" % (response.content_type, len(body)),
        ]
        for name, value in response.headers:
            head.append(b"%s: %s\r\n" % (name, value))
        if not keep_alive:
            head.append(b"connection: close\r\n")
        head.append(b"\r\n")
        self.transport.write(b"".join(head) + body)

    def _fail(self, status: int, message: str) -> None:
        """Answer a request that could not be parsed or accepted, then close: the rest of the
        stream cannot be trusted to be framed correctly."""
        if self.transport is None:
            return
        for task in self._pending:
            task.cancel()
        self._pending.clear()
        self._keep_alive.clear()
        self._write(error_response(status, message), keep_alive=False)
        self._close()

    def _too_large(self) -> str:
        return f"request body exceeds the limit of {self.limits.max_body_bytes} bytes"

    def _count_header_bytes(self, n: int) -> None:
        self._header_bytes += n
        if self._header_bytes > self.limits.max_header_bytes:
            raise _Reject(431, f"request headers exceed {self.limits.max_header_bytes} bytes")

    def _close(self) -> None:
        self.deadline = None
        if self.transport is not None:
            self.transport.close()

    # -- server-driven ------------------------------------------------------------------------

    @property
    def idle(self) -> bool:
        """No request being read or awaiting its answer."""
        return not self._pending and not self._in_message

    def start_draining(self) -> None:
        """Graceful shutdown: the next answer carries ``Connection: close`` and the connection
        closes after it. An idle connection gets :data:`DRAIN_IDLE_S` before it is closed:
        closing it at once would race with a request the client may be sending right now (the
        client would see a reset for a request nobody read), whereas an answer with
        ``Connection: close`` tells it cleanly to go elsewhere."""
        self._closing = True
        if self.idle:
            self.deadline = self.loop.time() + DRAIN_IDLE_S

    def expire(self) -> None:
        """Called by the sweeper when ``deadline`` passed: a slow or idle client loses its seat."""
        if self._in_message and self.transport is not None:
            self._fail(408, "request not received in time")
        else:
            self._close()


def _peer(name: object) -> str:
    """``("127.0.0.1", 51234)`` → ``127.0.0.1:51234``; a Unix socket or nothing → ``""``."""
    if isinstance(name, tuple) and len(name) >= 2:
        return f"{name[0]}:{name[1]}"
    return ""
