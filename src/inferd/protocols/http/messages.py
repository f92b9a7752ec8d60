"""HTTP request and response values, and the one table from error codes to HTTP statuses."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import orjson

from inferd.errors import Code, InferdError, RetryLater

log = logging.getLogger(__name__)

#: Error code → HTTP status. CANCELLED never reaches a client (it went away); 499 is logged.
STATUS_BY_CODE: dict[Code, int] = {
    Code.INVALID_ARGUMENT: 400,
    Code.NOT_FOUND: 404,
    Code.ALREADY_EXISTS: 409,
    Code.PAYLOAD_TOO_LARGE: 413,
    Code.UNSUPPORTED: 501,
    Code.UNAVAILABLE: 503,
    Code.RESOURCE_EXHAUSTED: 429,
    Code.DEADLINE_EXCEEDED: 504,
    Code.CANCELLED: 499,
    Code.DATA_LOSS: 500,
    Code.UNAUTHENTICATED: 401,
    Code.PERMISSION_DENIED: 403,
    Code.INTERNAL: 500,
}

JSON = b"application/json"


@dataclass(slots=True)
class Request:
    """One parsed request. Header names are lower-case; ``body`` is the de-chunked body, a
    ``bytearray`` when it arrived in several chunks (it is not copied into ``bytes``, see
    :mod:`inferd.protocols.http.body`); treat it as read-only."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes | bytearray
    #: Path parameters filled in by the router (already percent-decoded).
    params: dict[str, str] = field(default_factory=dict)
    #: The client's address, ``host:port`` (for audit records).
    peer: str = ""
    #: The request said HTTP/1.0 (it is answered in HTTP/1.1's syntax, as 1.0 allows).
    http10: bool = False


@dataclass(slots=True)
class Response:
    """A complete response; ``headers`` are extra ``(name, value)`` pairs besides the framing."""

    status: int
    body: bytes = b""
    content_type: bytes = JSON
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


@dataclass(slots=True)
class HeadResponse(Response):
    """The answer to a HEAD request: the GET answer's status and headers with no body, and
    its ``content-length`` (RFC 9110 9.3.2), or none when the GET answer would be streamed."""

    length: int | None = None


@dataclass(slots=True)
class StreamingResponse(Response):
    """A response whose body is produced while it is sent: each chunk ``chunks`` yields goes
    out at once, framed with ``Transfer-Encoding: chunked`` (Server-Sent Events, token streams).

    The connection iterates ``chunks`` and closes it (``aclose``) however the stream ends:
    finished, failed, or the client gone, which is how a producer learns to stop.
    """

    chunks: AsyncIterator[bytes] | None = None
    #: Called when the answer will not be sent to its end (the client left, even before its
    #: turn came on a pipelined connection): a producer that never started iterating learns
    #: it only from this, since closing an unstarted generator runs none of its code.
    abandon: Callable[[], None] | None = None


def json_response(value: Any, status: int = 200) -> Response:
    return Response(status, orjson.dumps(value))


def error_response(
    status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None
) -> Response:
    """The protocol's error shape: ``{"error": "..."}``."""
    return Response(status, orjson.dumps({"error": message}), headers=headers or [])


#: OpenAI's error types by status below 500 (5xx: ``server_error``; other 4xx:
#: ``invalid_request_error``).
OPENAI_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}
#: An OpenAI error's ``code`` for a status: inferd's error code, in lower case.
_CODE_OF_STATUS = {status: code.value.lower() for code, status in STATUS_BY_CODE.items()}


def openai_type(status: int) -> str:
    return "server_error" if status >= 500 else OPENAI_TYPES.get(status, "invalid_request_error")


def openai_path(target: str) -> bool:
    """Whether errors on ``target`` (a path, with or without its query) are in OpenAI's shape:
    ``/v1/`` paths, but KServe v1's ``/v1/models/{model}:predict`` (and ``:explain``)."""
    path = target.partition("?")[0]
    return path.startswith("/v1/") and ":" not in path


def error_for(
    target: str, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None
) -> Response:
    """:func:`error_response` in the shape the request's ``target`` wants: OpenAI's
    ``{"error": {"message", "type", "param", "code"}}`` on its paths (:func:`openai_path`),
    whose clients read no other (a route's own errors are shaped by the route)."""
    if not openai_path(target):
        return error_response(status, message, headers)
    try:
        name = HTTPStatus(status).name.lower()
    except ValueError:
        name = None
    error = {
        "message": message,
        "type": openai_type(status),
        "param": None,
        "code": _CODE_OF_STATUS.get(status, name),
    }
    return Response(status, orjson.dumps({"error": error}), headers=headers or [])


def response_for_error(exc: InferdError) -> Response:
    """Map an inferd error to its HTTP response; a RetryLater (Unavailable, RateLimited) carries
    ``Retry-After``."""
    status = STATUS_BY_CODE.get(exc.code, 500)
    headers: list[tuple[bytes, bytes]] = []
    if isinstance(exc, RetryLater):
        # Retry-After is whole seconds, rounded up as gRPC's retry-after is (asking again
        # before the time is up would be refused again); never 0 (clients would hammer).
        headers.append((b"retry-after", str(max(1, math.ceil(exc.retry_after))).encode()))
    return error_response(status, exc.message, headers)


def answer_of(task: asyncio.Task[Response]) -> Response:
    """The answer of a finished (not cancelled) request task: its response, or the response for
    the error it raised (500 for an unexpected one, logged)."""
    exc = task.exception()
    if exc is None:
        return task.result()
    if isinstance(exc, InferdError):
        return response_for_error(exc)
    log.error("unhandled error in a handler", exc_info=exc)
    return error_response(500, "internal error")


def _status_line(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Client Closed Request" if status == 499 else "Unknown"
    return b"HTTP/1.1 %d %s\r\n" % (status, phrase.encode())


_STATUS_LINES = {s.value: _status_line(s.value) for s in HTTPStatus}


def status_line(status: int) -> bytes:
    """``HTTP/1.1 200 OK\\r\\n`` (precomputed for every standard status)."""
    line = _STATUS_LINES.get(status)
    return line if line is not None else _status_line(status)


def encode(response: Response, keep_alive: bool, *, announce: bool = False) -> bytes:
    """The bytes of ``response`` on the wire, framed by ``content-length``; ``keep_alive``
    False adds ``connection: close``, True with ``announce`` (an HTTP/1.0 client: it keeps a
    connection only when told) ``connection: keep-alive``."""
    body = response.body
    if type(response) is HeadResponse:
        head = [status_line(response.status), b"content-type: %s\r\n" % response.content_type]
        if response.length is not None:
            head.append(b"content-length: %d\r\n" % response.length)
    else:
        head = [
            status_line(response.status),
            b"content-type: %s\r\ncontent-length: %d\r\n" % (response.content_type, len(body)),
        ]
    for name, value in response.headers:
        head.append(b"%s: %s\r\n" % (name, value))
    if not keep_alive:
        head.append(b"connection: close\r\n")
    elif announce:
        head.append(b"connection: keep-alive\r\n")
    head.append(b"\r\n")
    return b"".join(head) + body


def encode_stream_head(response: Response, keep_alive: bool, *, chunked: bool = True) -> bytes:
    """The status line and headers of a chunked response (its chunks follow, then
    :data:`LAST_CHUNK`); without ``chunked`` (an HTTP/1.0 client, RFC 9112 6.1) the body is
    sent as it is and ends when the connection closes: ``connection: close`` whatever
    ``keep_alive`` says."""
    head = [
        status_line(response.status),
        b"content-type: %s\r\n%s"
        % (response.content_type, b"transfer-encoding: chunked\r\n" if chunked else b""),
    ]
    for name, value in response.headers:
        head.append(b"%s: %s\r\n" % (name, value))
    if not keep_alive or not chunked:
        head.append(b"connection: close\r\n")
    head.append(b"\r\n")
    return b"".join(head)


def encode_chunk(data: bytes) -> bytes:
    """One chunk of a chunked body (never empty: an empty chunk ends the body)."""
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"
