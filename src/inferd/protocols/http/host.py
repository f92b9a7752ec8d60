"""What a connection is given by the server that accepted it: the limits it enforces
(:class:`HttpLimits`) and the few things of the server it reads (:class:`ConnectionHost`).

:class:`~inferd.protocols.http.server.HttpServer` is the host; a connection knows it only
through this protocol, so ``connection`` does not import ``server`` (which imports it).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from inferd.config import LimitSettings
from inferd.protocols.http.budget import RequestBudget
from inferd.protocols.http.messages import Request, Response
from inferd.protocols.http.refusal import Guard, Screen

_Connection = TypeVar("_Connection")


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """What one connection may send, and leave unread, before it is refused (sizes in bytes,
    times in seconds). Every server given the same instance draws on its one ``budget``."""

    max_body_bytes: int
    max_header_bytes: int
    header_timeout_s: float
    body_timeout_s: float
    budget: RequestBudget = field(compare=False)
    max_connections: int
    write_buffer_bytes: int
    write_timeout_s: float
    max_headers: int = 100

    @classmethod
    def from_settings(cls, limits: LimitSettings) -> HttpLimits:
        return cls(
            max_body_bytes=limits.max_body_bytes,
            max_header_bytes=limits.max_header_bytes,
            header_timeout_s=limits.header_timeout_s,
            body_timeout_s=limits.body_timeout_s,
            budget=RequestBudget(limits.max_buffered_request_bytes),
            max_connections=limits.max_connections,
            write_buffer_bytes=limits.write_buffer_bytes,
            write_timeout_s=limits.write_timeout_s,
        )


class ConnectionHost(Protocol[_Connection]):
    """The server a connection belongs to, as the connection sees it."""

    limits: HttpLimits
    loop: asyncio.AbstractEventLoop
    #: Where every connection's socket reads (except bodies read directly).
    read_buffer: memoryview
    #: Set once the server drains: no new request is read on a kept-alive connection.
    draining: bool
    #: Checks each request's head before its body is read (None: none).
    screen: Screen | None
    #: Checks each request, its head before its body is read too (None: none).
    guard: Guard | None

    @property
    def connections(self) -> set[_Connection]:
        """The open connections; each adds itself when made and leaves when lost."""
        ...

    async def dispatch(self, request: Request) -> Response:
        """The response to ``request`` (every failure turned into an error response)."""
        ...

    def judge_head(self, request: Request) -> Response | None:
        """The answer to ``request`` that its head alone decides (its body not read yet), or
        None when its body must be read."""
        ...
