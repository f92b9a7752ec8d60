"""A small, fast HTTP/1.1 server: asyncio + uvloop + httptools, no framework.

:class:`Router` maps a method and path to an async handler; :class:`HttpServer` runs a router on
a listening socket with keep-alive, pipelining, size limits, read and write timeouts, flow
control (backpressure, a process-wide budget for request bodies, a connection limit) and
graceful shutdown. A handler may answer with a :class:`StreamingResponse`, whose chunks are sent
as they are produced.
"""

from inferd.protocols.http.messages import (
    Request,
    Response,
    StreamingResponse,
    error_response,
    json_response,
)
from inferd.protocols.http.router import Handler, Route, Router
from inferd.protocols.http.server import HttpServer

__all__ = [
    "Handler",
    "HttpServer",
    "Request",
    "Response",
    "Route",
    "Router",
    "StreamingResponse",
    "error_response",
    "json_response",
]
