"""The access log: one line per request, to the ``inferd.access`` logger (docs/gateway.md).

Off by default, and then nothing here runs: the composition root builds an
:class:`AccessLoggedServer` instead of an :class:`~.server.HttpServer` only when it is on
(``inferd serve --access-log``, ``gateway.access_log``), as the gRPC listeners get their
interceptor (:mod:`inferd.protocols.grpc.access_log`) only then.

A line is written when the answer ends: a complete answer once it is handed to the connection, a
streaming one (Server-Sent Events) when its last chunk is sent or it is cut. It holds when the
request started (RFC 3339, UTC), the client's address, method, path (never the query string,
which some clients use for credentials; cut past :data:`MAX_LOGGED_PATH` characters), protocol,
status (gRPC: its code's name), body bytes sent, milliseconds from the complete request to the
end of the answer, and the trace id when the server traces and the request has a valid one (32
hex digits, not all zero: a client's malformed ``traceparent`` is left out). A client that left
before its answer ends is 499, as nginx and the server's metrics count it. Bodies and headers
(``Authorization``, API keys) are never logged.

``text`` lines read ``TIME CLIENT "METHOD PATH PROTOCOL" STATUS BYTES MS [trace_id=ID]``;
a ``"``, ``\\`` or any byte outside printable ASCII in the client, method or path is written
``\\xHH`` (as nginx does), so that no client can end the quoted request or the line early;
``json`` lines are one object each with those fields (``time``, ``client``, ``method``,
``path``, ``protocol``, ``status``, ``bytes``, ``duration_ms``, ``trace_id``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import sys
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import orjson
from httptools import HttpRequestParser

from inferd.errors import InferdError
from inferd.protocols.http.connection import HttpConnection
from inferd.protocols.http.host import HttpLimits
from inferd.protocols.http.messages import STATUS_BY_CODE, Request, Response, StreamingResponse
from inferd.protocols.http.refusal import Guard, Screen
from inferd.protocols.http.router import Router
from inferd.protocols.http.server import HttpServer, OverLimit

#: The logger of the access lines: its level and handlers are the operator's to set.
LOGGER = "inferd.access"
#: What a client that left before its answer ended is logged with (nginx's, the metrics').
CLIENT_GONE = 499
#: A request's protocol, as its request line names it.
HTTP = "HTTP/1.1"
HTTP10 = "HTTP/1.0"

AccessFormat = Literal["text", "json"]

#: The most characters of a path a line holds: a longer one (a head may be 64 KiB) is cut to
#: its first ones and ``...``, so that no request writes more than a short line.
MAX_LOGGED_PATH = 1024
#: A W3C ``traceparent``'s head: version, trace id (its group), parent id, flags.
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")
_NO_TRACE = "0" * 32
#: What a text line writes as ``\xHH``: quote, backslash, control and non-ASCII characters.
_UNSAFE = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")


def _escaped(text: str) -> str:
    """``text`` with each :data:`_UNSAFE` character's UTF-8 bytes written ``\\xHH``."""
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(lambda m: "".join(f"\\x{b:02x}" for b in m[0].encode()), text)


def _cut(path: str) -> str:
    """``path``, cut to :data:`MAX_LOGGED_PATH` characters."""
    return path if len(path) <= MAX_LOGGED_PATH else path[: MAX_LOGGED_PATH - 3] + "..."


@dataclass(frozen=True, slots=True)
class Began:
    """A request being answered: what its line says besides how it ended (``""``: what a
    request refused while it was read had not sent yet, ``-`` in a text line, null in JSON)."""

    client: str
    method: str
    path: str
    protocol: str = HTTP
    #: When it began: wall clock (the line's time) and ``perf_counter`` (its duration).
    wall: float = field(default_factory=time.time)
    clock: float = field(default_factory=time.perf_counter)


log = logging.getLogger(LOGGER)


class AccessLog:
    """Writes access lines in ``format``; ``traced``: the server traces, so a request's
    ``traceparent`` names its trace."""

    def __init__(self, format: AccessFormat, *, traced: bool = False) -> None:
        self.json = format == "json"
        self.traced = traced
        if not log.handlers:  # bare lines to stderr, as uvicorn's access logger writes them
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(message)s"))
            log.addHandler(handler)
            log.setLevel(logging.INFO)
            log.propagate = False

    def trace_id(self, traceparent: str | None) -> str:
        """The trace id of a W3C ``traceparent`` (``00-TRACE-SPAN-FLAGS``), when traced; ``""``
        for a malformed one (the client's text, which it could forge fields with)."""
        if not self.traced or traceparent is None:
            return ""
        head = _TRACEPARENT.match(traceparent)
        if head is None or head[1] == _NO_TRACE:
            return ""
        return head[1]

    def write(self, began: Began, status: int | str, size: int, trace_id: str = "") -> None:
        """The line of the request ``began``, ended with ``status`` after ``size`` bytes."""
        ms = round((time.perf_counter() - began.clock) * 1000, 3)
        at = datetime.fromtimestamp(began.wall, UTC).isoformat(timespec="milliseconds")
        at = at.replace("+00:00", "Z")
        if self.json:
            line = orjson.dumps({
                "time": at, "client": began.client, "method": began.method or None,
                "path": began.path or None, "protocol": began.protocol or None,
                "status": status, "bytes": size, "duration_ms": ms, "trace_id": trace_id or None,
            }).decode()  # fmt: skip
        else:
            method, path = _escaped(began.method) or "-", _escaped(began.path) or "-"
            request = f"{method} {path} {began.protocol or '-'}"
            line = f'{at} {_escaped(began.client) or "-"} "{request}" {status} {size} {ms:.3f}'
            if trace_id:
                line += f" trace_id={trace_id}"
        log.info("%s", line)


def failed_status(exc: BaseException) -> int:
    """The HTTP status of a request that ended in ``exc`` instead of an answer."""
    if isinstance(exc, asyncio.CancelledError):
        return CLIENT_GONE
    return STATUS_BY_CODE.get(exc.code, 500) if isinstance(exc, InferdError) else 500


class AccessLoggedServer(HttpServer):
    """An :class:`HttpServer` that writes an access line for each request it dispatches."""

    def __init__(
        self,
        access: AccessLog,
        router: Router,
        limits: HttpLimits,
        guard: Guard | None = None,
        screen: Screen | None = None,
    ) -> None:
        super().__init__(router, limits, guard, screen)
        self.access = access

    def dispatch(self, request: Request) -> Coroutine[object, object, Response]:
        return self._logged(request, super().dispatch(request))

    def _accept(self) -> HttpConnection | OverLimit:
        accepted = super()._accept()
        accepted.refused = self._refused  # asked only when it refuses a request
        return accepted

    def _refused(
        self, peer: str, parser: HttpRequestParser | None, target: bytes, answer: Response
    ) -> None:
        """The line of a request refused while it was read (before any byte of it: no
        ``parser``), as far as it was read: no method nor path before its ``target`` began
        (never its query string), no protocol before its request line was read."""
        method = path = protocol = ""
        if parser is not None and target:
            method = parser.get_method().decode("ascii")
            path = _cut(target.partition(b"?")[0].decode("latin-1"))
        if parser is not None and (version := parser.get_http_version()) != "0.0":
            protocol = f"HTTP/{version}"
        self.access.write(Began(peer, method, path, protocol), answer.status, len(answer.body))

    async def _logged(
        self, request: Request, answer: Coroutine[object, object, Response]
    ) -> Response:
        began = Began(
            request.peer, request.method, _cut(request.path), HTTP10 if request.http10 else HTTP
        )
        try:
            response = await answer
        except BaseException as exc:
            self._write(request, began, failed_status(exc), 0)
            raise
        if isinstance(response, StreamingResponse) and response.chunks is not None:
            return self._streamed(request, response, began)
        self._write(request, began, response.status, len(response.body))
        return response

    def _write(self, request: Request, began: Began, status: int, size: int) -> None:
        # Read once answered: the gateway's span replaces the traceparent it was sent.
        trace_id = self.access.trace_id(request.headers.get("traceparent"))
        self.access.write(began, status, size, trace_id)

    def _streamed(
        self, request: Request, response: StreamingResponse, began: Began
    ) -> StreamingResponse:
        """``response`` whose line is written when its stream ends: sent to its end, cut by a
        failing producer (the status sent, the bytes before the cut), or left by its client
        (499), before or after it started."""
        chunks, abandon = response.chunks, response.abandon
        assert chunks is not None
        sent, logged = 0, False

        def write(status: int) -> None:
            nonlocal logged
            if not logged:
                logged = True
                self._write(request, began, status, sent)

        async def counted() -> AsyncIterator[bytes]:
            nonlocal sent
            status = response.status
            try:
                async for chunk in chunks:
                    yield chunk
                    sent += len(chunk)  # asked for the next: this one was written
            except (GeneratorExit, asyncio.CancelledError):
                status = CLIENT_GONE
                raise
            finally:
                write(status)
                closing = getattr(chunks, "aclose", None)
                if closing is not None:
                    await closing()

        def abandoned() -> None:  # never sent to its end: its client left
            write(CLIENT_GONE)
            if abandon is not None:
                abandon()

        return dataclasses.replace(response, chunks=counted(), abandon=abandoned)


def http_server(
    access: AccessLog | None,
    router: Router,
    limits: HttpLimits,
    guard: Guard | None = None,
    screen: Screen | None = None,
) -> HttpServer:
    """The listener of a router: access-logged when ``access`` is given, else plain."""
    if access is None:
        return HttpServer(router, limits, guard, screen)
    return AccessLoggedServer(access, router, limits, guard, screen)
