"""Keep-alive connections to replicas, shared by the gateway's two HTTP clients.

:mod:`.upstream` returns whole responses and :mod:`.stream_upstream` hands a body on as it
arrives; both speak HTTP/1.1 to inferd replicas on loopback over connections parsed by httptools,
one request at a time per connection, kept in a pool per replica for reuse. This module holds
what they share: the connection's plumbing (:class:`ReplicaConnection`), the pool
(:class:`KeepAlivePool`) and the pools by replica address (:class:`PoolsByReplica`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

import httptools

from inferd.control.replicas.topology import Topology


class UpstreamFailed(Exception):
    """The connection failed before a complete response: safe to retry an idempotent request."""


class UpstreamTimeout(Exception):
    """The replica did not answer in time."""


class ReplicaConnection(asyncio.Protocol):
    """One keep-alive connection to a replica and its response parser. Subclasses collect the
    response (httptools' ``on_body``/``on_message_complete``) and say how a failure before its
    end reaches the waiting request (:meth:`_fail`)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self._headers: dict[str, str] = {}
        #: Whether the response just read left the connection fit for another request.
        self.reusable = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without inheriting from it.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.reusable = False
        self._fail("connection closed before a complete response")

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._fail("malformed response")
            self.close()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    @property
    def open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _fail(self, why: str) -> None:
        raise NotImplementedError


C = TypeVar("C", bound=ReplicaConnection)


class KeepAlivePool(Generic[C]):
    """Idle keep-alive connections to one replica (``host:port``), at most ``max_idle``."""

    def __init__(self, host: str, port: int, connect: Callable[[], C], max_idle: int) -> None:
        self.host = host
        self.port = port
        self._connect = connect
        self._max_idle = max_idle
        self._idle: deque[C] = deque()
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"  # IPv6 literal
        #: The ``Host`` header's value for requests to this replica.
        self.host_header = authority
        self.closed = False

    def idle_connection(self) -> C | None:
        """An idle connection that is still open, if there is one (no coroutine: the usual
        case of a busy pool)."""
        while self._idle:
            conn = self._idle.pop()
            if conn.open:
                return conn
        return None

    async def acquire(self) -> C:
        """An idle connection that is still open, else a new one (:class:`UpstreamFailed` when
        the replica cannot be reached)."""
        conn = self.idle_connection()
        if conn is not None:
            return conn
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(self._connect, self.host, self.port)
        except OSError as exc:
            raise UpstreamFailed(f"cannot connect: {exc.strerror or type(exc).__name__}") from None
        return conn

    def release(self, conn: C) -> None:
        """Keep a connection whose response was read to its end, or close it when it cannot
        be reused or the pool is closed or full."""
        if self.closed or not conn.reusable or not conn.open or len(self._idle) >= self._max_idle:
            conn.close()
        else:
            self._idle.append(conn)

    def close(self) -> None:
        """Close idle connections; connections in use are closed when their request ends."""
        self.closed = True
        while self._idle:
            self._idle.pop().close()


P = TypeVar("P", bound="KeepAlivePool[Any]")


class PoolsByReplica(Generic[P]):
    """A pool per replica address, made on first use and closed when its replica leaves."""

    def __init__(self, make: Callable[[str, int], P]) -> None:
        self._make = make
        self._pools: dict[tuple[str, int], P] = {}

    def pool(self, host: str, port: int) -> P:
        found = self._pools.get((host, port))
        if found is None:
            found = self._pools[(host, port)] = self._make(host, port)
        return found

    def retain(self, topology: Topology) -> None:
        """Close the pools of replicas no longer in ``topology`` (requests still running on
        them finish; their connections close when they do)."""
        live = {(r.host, r.port) for r in topology.replicas()}
        for key in [k for k in self._pools if k not in live]:
            self._pools.pop(key).close()

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
