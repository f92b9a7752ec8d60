"""A small asyncio HTTP/1.1 client for replicas: keep-alive pools and httptools' response parser.

Replicas are inferd model servers on loopback, so the client needs only what they speak:
requests with a ``Content-Length`` body, responses framed by ``Content-Length`` (chunked is
parsed too, since httptools handles it), one request at a time per connection. A pool per
replica keeps idle connections for reuse; it measured faster than httpx for this job (see
docs/gateway.md). It is the one HTTP client of the control side that is not httpx, kept for its
per-request cost on the gateway's hot path (docs/benchmarks.md, "Gateway: through the gateway
against straight to one replica").

Failures are split by what they mean for a retry:

* :class:`UpstreamFailed` — the connection failed before a complete response arrived (refused,
  reset, closed early). The request may or may not have run; inference is idempotent, so the
  proxy retries it once elsewhere.
* :class:`UpstreamTimeout` — no answer within the timeout; not retried (the replica may just be
  slow, and a retry would double the load on a struggling deployment).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from inferd.control.gateway.keepalive import (
    KeepAlivePool,
    ReplicaConnection,
    UpstreamFailed,
    UpstreamTimeout,
)
from inferd.serving.deadlines import DeadlineLine

#: Idle connections kept per replica; more are closed when released.
MAX_IDLE = 128
#: Bodies from this size on are written separately from the request head (no copy).
LARGE_BODY = 64 * 1024
#: Headers that describe one hop, never forwarded (RFC 9110 §7.6.1, plus framing we redo).
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "host",
        # The gateway has the whole body already; forwarding Expect would make the replica
        # send an interim "100 Continue" that is not the response.
        "expect",
        # A browser client's page: the gateway judged it (its loopback screen); a replica on
        # loopback without keys would refuse a foreign one that a gateway beyond loopback serves.
        "origin",
    }
)
#: A client's credentials: the gateway checks them (its API keys) and its replicas, keyless on
#: loopback, have no use for them; a client's secret stops at the door.
CREDENTIALS = frozenset({"authorization", "proxy-authorization"})
#: The gateway compresses answers itself, once, for the client that asks (as Envoy's compressor
#: does): its replicas answer identity, which the shadow comparison, payload logging and the
#: metadata rewrite read, and which relays that copy only some headers pass on intact.
COMPRESSION = frozenset({"accept-encoding"})
_NOT_FORWARDED = HOP_BY_HOP | CREDENTIALS | COMPRESSION


@dataclass(slots=True)  # not frozen: one per request, and a frozen __init__ is 2-4x slower
class UpstreamRequest:
    """A request for a replica; ``headers`` hold no hop-by-hop headers (see :func:`forwardable`)."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | bytearray = b""


@dataclass(slots=True)  # not frozen: one per request (see UpstreamRequest)
class UpstreamResponse:
    """A complete response from a replica. Header names are lower-case."""

    status: int
    headers: dict[str, str]
    body: bytes


class _Connection(ReplicaConnection):
    """One keep-alive connection; one request in flight at a time, its response kept whole."""

    def __init__(self) -> None:
        super().__init__()
        # Made inside the loop (the pool's connect): kept, since Python 3.11's
        # get_running_loop() makes a getpid() system call each time it is asked.
        self._loop = asyncio.get_running_loop()
        self._waiter: asyncio.Future[UpstreamResponse] | None = None
        self._body: list[bytes] = []

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        response = UpstreamResponse(
            self.parser.get_status_code(), self._headers, b"".join(self._body)
        )
        self.reusable = bool(self.parser.should_keep_alive())
        self._headers, self._body = {}, []
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(response)

    def send(self, head: bytes, body: bytes | bytearray) -> asyncio.Future[UpstreamResponse]:
        assert self.transport is not None and self._waiter is None
        self.reusable = False
        self._waiter = self._loop.create_future()
        if len(body) < LARGE_BODY:
            self.transport.write(head + body)
        else:
            # Large bodies (binary tensors) go out without being copied next to the head.
            self.transport.write(head)
            self.transport.write(body)
        return self._waiter

    def _fail(self, why: str) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(UpstreamFailed(why))

    def expire(self, timeout: float) -> None:
        """The answer did not come in time: the waiting request gets :class:`UpstreamTimeout`,
        and the connection, whose answer may still arrive, is closed."""
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(UpstreamTimeout(f"no answer within {timeout:g} s"))
        self.close()


class _Sent:
    """A request waiting for its answer (``future``) on ``conn``, due by ``deadline``
    (``time.monotonic()``); held by the pool's :class:`DeadlineLine`."""

    __slots__ = ("conn", "deadline", "future", "timeout", "timer")

    def __init__(
        self,
        conn: _Connection,
        future: asyncio.Future[UpstreamResponse],
        deadline: float,
        timeout: float,
    ) -> None:
        self.conn = conn
        self.future = future
        self.deadline = deadline
        self.timeout = timeout
        self.timer: asyncio.TimerHandle | None = None


def _expire(sent: _Sent) -> None:
    # An answered request's connection may be back in the pool, serving another: leave it.
    if not sent.future.done():
        sent.conn.expire(sent.timeout)


class ReplicaPool(KeepAlivePool[_Connection]):
    """Keep-alive connections to one replica (``host:port``) for whole responses."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port, _Connection, MAX_IDLE)
        #: One timer for the pool's requests in flight: a pool's requests mostly share one
        #: timeout, and ``asyncio.timeout`` per request cost more than the rest of the wait.
        self._deadlines: DeadlineLine[_Sent] | None = None

    async def request(self, request: UpstreamRequest, timeout: float) -> UpstreamResponse:
        """Send one request and wait for its complete response (see the module docstring for
        the two failures); ``timeout`` covers connecting, sending and the whole answer."""
        head = request_head(request, self.host_header)
        deadline = time.monotonic() + timeout
        conn = self.idle_connection()
        if conn is None:
            try:
                async with asyncio.timeout(timeout):
                    conn = await self.acquire()
            except TimeoutError:
                raise UpstreamTimeout(f"no answer within {timeout:g} s") from None
        if self._deadlines is None:
            self._deadlines = DeadlineLine(asyncio.get_running_loop(), _expire)
        sent = _Sent(conn, conn.send(head, request.body), deadline, timeout)
        self._deadlines.forget_answered()  # answers come back roughly in send order
        self._deadlines.watch(sent, time.monotonic())
        try:
            response = await sent.future
        except BaseException:
            conn.close()
            raise
        finally:
            if sent.timer is not None:
                sent.timer.cancel()
        self.release(conn)
        return response

    def pending_deadlines(self) -> int:
        """Requests the deadline line holds: those in flight, and answered ones not yet
        dropped (they leave it as later requests are sent)."""
        return 0 if self._deadlines is None else len(self._deadlines)


def request_head(request: UpstreamRequest, host_header: str) -> bytes:
    """The request line and headers of ``request`` for the replica named by ``host_header``.

    Built as one string and encoded once (header names and values are the latin-1 the
    request's were decoded from): half the cost of encoding each line."""
    framing = (
        f"content-length: {len(request.body)}\r\n\r\n"
        if request.body or request.method not in ("GET", "HEAD")
        else "\r\n"
    )
    return "".join(
        [
            f"{request.method} {request.path} HTTP/1.1\r\nhost: {host_header}\r\n",
            *[f"{name}: {value}\r\n" for name, value in request.headers],
            framing,
        ]
    ).encode("latin-1")


def forwardable(headers: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """What of a client's request headers goes on to a replica: neither hop-by-hop headers nor
    the client's credentials (:data:`CREDENTIALS`), nor ``Accept-Encoding``
    (:data:`COMPRESSION`)."""
    return tuple([(k, v) for k, v in headers.items() if k not in _NOT_FORWARDED])
