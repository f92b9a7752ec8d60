"""One client connection: an ``asyncio.BufferedProtocol`` driving ``httptools.HttpRequestParser``.

Requests on one connection are handled concurrently (each in its own task) but answered in the
order they arrived, as HTTP/1.1 pipelining requires. Limits are enforced while bytes arrive (the
body limit counts de-chunked bytes read, so no Content-Length can lie past it): 413/414/431, then a
lingering close (``_fail``). The sweeper closes a connection slow to send its head or body
(``deadline``); the header timeout runs from the moment the connection is idle (opened, or its
last answer written) until the next head is complete, so trickling bytes does not extend it.

Flow control, so that one client can hold only a bounded amount of the server's memory, is
described with its numbers in :mod:`.flow`.

Bytes are read into the server's one read buffer and parsed at once, except the rest of a body
(:data:`~.flow.TURN_BYTES` or more still to come), read straight into its own buffer
(:mod:`.body`): the parser, which never sees those bytes, is then replaced by a fresh one for
the next request. Streaming answers are sent by :mod:`.streaming`, one at a time per connection.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import cast

import httptools

from inferd.protocols.http import reading, refusal
from inferd.protocols.http.body import NO_BODY, BodyReader
from inferd.protocols.http.flow import (
    DRAIN_IDLE_S,
    LINGER_BYTES,
    LINGER_S,
    MAX_PIPELINE,
    READ_BYTES,
    TURN_BYTES,
)
from inferd.protocols.http.host import ConnectionHost
from inferd.protocols.http.messages import (
    LAST_CHUNK,
    Request,
    Response,
    StreamingResponse,
    answer_of,
    encode,
    encode_stream_head,
)
from inferd.protocols.http.reading import admit_headers, parse, peer_address, request_target
from inferd.protocols.http.streaming import abandon_unsent, send_chunks, start_pump
from inferd.protocols.http.write_deadline import WriteDeadline


class HttpConnection(asyncio.BufferedProtocol):
    """Parses, dispatches and answers requests for one socket."""

    #: The access log's, when it is on: told of each request refused here (:mod:`.refusal`).
    refused: refusal.Refused | None = None

    def __init__(self, server: ConnectionHost[HttpConnection]) -> None:
        self.server = server
        self.limits = server.limits
        self.budget = server.limits.budget
        self.loop = server.loop
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.peer = ""
        #: Monotonic time after which the sweeper closes this connection; None: no read pending.
        self.deadline: float | None = None
        #: Running requests, oldest first, with their keep-alive flag and budget charge.
        self._pending: deque[tuple[asyncio.Task[Response], bool, int]] = deque()
        #: Parsed requests waiting for room to run (pipeline full or writing paused).
        self._backlog: deque[tuple[Request, bool, int]] = deque()
        #: Budget bytes held: pending and backlog bodies, and the body being read.
        self._charged = 0
        self._reading = True
        self._write_paused = False
        self._write_deadline = WriteDeadline(self.loop, self.limits.write_timeout_s)
        #: Set while writing is not paused: a streaming answer's pump waits on it.
        self._writable = asyncio.Event()
        self._writable.set()
        #: The pump sending a streaming answer; later answers wait for it.
        self._stream: asyncio.Task[None] | None = None
        self._closing = False
        self._http10 = False
        #: Where the socket reads the body being read directly; None: the server's buffer.
        self._room: memoryview | None = None
        #: Failed and answered: bytes the client may still send, discarded, before it is closed.
        self._linger_left: int | None = None
        self._reset()

    def _reset(self) -> None:
        self._url = b""
        self._headers: dict[str, str] = {}
        self._header_bytes = 0
        # Shared and never written: a request with a body gets its own reader, sized when its
        # headers declare a Content-Length (on_headers_complete), else at its first chunk.
        self._body = NO_BODY
        self._in_message = False
        #: The head to read again once the parser takes an Upgrade with a body (see _fresh).
        self._replay = b""

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without inheriting from it.
        accepted = cast(asyncio.Transport, transport)
        self.transport = accepted
        accepted.set_write_buffer_limits(high=self.limits.write_buffer_bytes)
        self.peer = peer_address(transport.get_extra_info("peername"))
        self.server.connections.add(self)
        self.deadline = self.loop.time() + self.limits.header_timeout_s

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        self.transport = None
        # Break the parser <-> connection cycle now, not in a GC pass (churn would force many).
        del self.parser
        self._write_deadline.cancel()
        # The client is gone: cancel what it asked for (the batcher drops cancelled requests).
        self._drop_requests()

    def pause_writing(self) -> None:
        self._write_paused = True
        self._writable.clear()
        self._pause_reading()
        if self.transport is not None:
            self._write_deadline.start(self.transport, self.peer)

    def resume_writing(self) -> None:
        self._write_paused = False
        self._writable.set()
        # A close still flushing keeps its timer: the rest must drain in time too.
        if not (self.transport and self.transport.is_closing()):
            self._write_deadline.cancel()
        self._flush()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.server.read_buffer if self._room is None else self._room[:READ_BYTES]

    def buffer_updated(self, nbytes: int) -> None:
        if self.transport is None:
            return
        if self._linger_left is not None:  # answered and closing: discarded, up to a bound
            self._linger_left -= nbytes
            if self._linger_left < 0:
                self._close()
            return
        if nbytes >= TURN_BYTES and self._reading:
            # uvloop reads a socket up to 32 times before it serves another (flow control, 5).
            self.transport.pause_reading()
            self.loop.call_soon(self._next_turn)
        room = self._room
        if room is not None:
            self._body.filled(nbytes)
            self._room = room[nbytes:] if nbytes < len(room) else None
            if self._room is None:  # the body is complete; the parser never saw it
                parser, self.parser = self.parser, httptools.HttpRequestParser(self)
                self._complete(parser)
            return
        failure = parse(self.parser, self.server.read_buffer[:nbytes], self._fresh)
        if failure is not None:
            self._fail(failure)
            return
        if self._in_message and self._body.remaining() >= TURN_BYTES:
            self._read_directly()

    def _read_directly(self) -> None:
        """Have the socket read the rest of the body straight into its buffer."""
        cost = self._body.room_cost()
        if cost and not self.budget.take(cost):
            self._fail(refusal.over_budget(self.budget))
            return
        self._charged += cost
        self._room = self._body.room()

    # -- httptools callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._in_message = True
        # Keep the idle deadline if one runs: the first byte must not buy a fresh timeout.
        if self.deadline is None:
            self.deadline = self.loop.time() + self.limits.header_timeout_s

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._header_bytes += len(url)
        if self._header_bytes > self.limits.max_header_bytes:
            raise refusal.head_too_large(self.limits.max_header_bytes, target=True)

    def on_header(self, name: bytes, value: bytes) -> None:
        # The byte count inline, not a method call: this runs for every header of every request.
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > self.limits.max_header_bytes:
            raise refusal.head_too_large(self.limits.max_header_bytes)
        key, headers, text = name.decode("latin-1").lower(), self._headers, value.decode("latin-1")
        if key in headers or len(headers) >= self.limits.max_headers:  # rare: joined or refused
            text = reading.repeated_header(key, text, headers, self.limits.max_headers)
        headers[key] = text

    def on_headers_complete(self) -> None:
        headers = self._headers  # (the rare checks are asked only where their field is)
        if "host" not in headers:
            reading.require_host(self.parser, headers)
        if (s := self.server).screen is not None or s.guard is not None:  # before the body
            reading.screened(s, self.parser, self._url, headers, self.peer)
        if "upgrade" in headers:  # else _reset left it b""
            self._replay = reading.replayed(self.parser, self._url, headers)
        declared = admit_headers(headers, self.limits.max_body_bytes, self.budget)
        if declared is not None:
            self._body = BodyReader(declared)
        self.deadline = self.loop.time() + self.limits.body_timeout_s
        # Expect: 100-continue is judged, and answered, with nothing outstanding (order).
        if (
            "expect" in headers
            and not (self._pending or self._backlog)
            and self.transport is not None
            and reading.continues(self.server, self.parser, self._url, headers, self.peer)
        ):
            self.transport.write(reading.CONTINUE)

    def on_body(self, body: bytes) -> None:
        reader, n = self._body, len(body)
        if reader is NO_BODY:  # framed in a way admit_headers did not size: never add to it
            reader = self._body = reading.chunked_body(self._headers)
        if reader.length + n > self.limits.max_body_bytes:
            raise refusal.body_too_large(self.limits.max_body_bytes)
        cost = reader.cost(n)
        if cost and not self.budget.take(cost):
            raise refusal.over_budget(self.budget)
        self._charged += cost
        reader.add(body, cost)

    def on_message_complete(self) -> None:
        if not self._replay:  # else its body is still to come (_fresh)
            self._complete(self.parser)

    def _fresh(self) -> tuple[httptools.HttpRequestParser, bytes]:
        """After an Upgrade ignored (:func:`.reading.parse`): a parser for what follows, and
        what to feed it first: the head again, without the Upgrade, when the body is to come."""
        replay = self._replay
        self._reset()
        self.parser = httptools.HttpRequestParser(self)  # its callbacks ask self.parser
        return self.parser, replay

    def _complete(self, parser: httptools.HttpRequestParser) -> None:
        method = parser.get_method().decode("ascii")
        path, query = request_target(self._url, method)
        # A client speaks one version on a connection; 1.0 needs keep-alive said explicitly.
        self._http10 = http10 = parser.get_http_version() == "1.0"
        body = self._body.value()
        request = Request(method, path, query, self._headers, body, peer=self.peer, http10=http10)
        keep_alive = parser.should_keep_alive() and not self.server.draining
        charge = self._body.charged
        self._reset()
        self.deadline = None
        if self._backlog or self._write_paused or len(self._pending) >= MAX_PIPELINE:
            self._backlog.append((request, keep_alive, charge))
            self._pause_reading()
        else:
            self._dispatch(request, keep_alive, charge)

    # -- answering ----------------------------------------------------------------------------

    def _dispatch(self, request: Request, keep_alive: bool, charge: int) -> None:
        task = self.loop.create_task(self.server.dispatch(request))
        self._pending.append((task, keep_alive, charge))
        task.add_done_callback(self._flush)
        if len(self._pending) >= MAX_PIPELINE:
            self._pause_reading()

    def _flush(self, _done: object = None) -> None:
        """Write finished answers in arrival order (only the queue's head may be written), then let
        waiting requests run and reading resume as flow control allows (also each task's done
        callback)."""
        while (
            self._pending
            and self._pending[0][0].done()
            and self.transport is not None
            and not self._write_paused
            and self._stream is None
        ):
            task, keep_alive, charge = self._pending.popleft()
            self._charged -= charge
            self.budget.give_back(charge)
            if task.cancelled():
                continue
            response = answer_of(task)
            final = not keep_alive or (self._closing and not self._pending and not self._backlog)
            if isinstance(response, StreamingResponse) and response.chunks is not None:
                chunked = not self._http10  # 1.0 knows no chunked: the close ends the body
                self.transport.write(encode_stream_head(response, not final, chunked=chunked))
                self._stream = start_pump(self._pump(response, final or not chunked), response)
                return
            self.transport.write(encode(response, not final, announce=self._http10))
            if final:
                self._close()
                return
        while self._backlog and not self._write_paused and len(self._pending) < MAX_PIPELINE:
            self._dispatch(*self._backlog.popleft())
        if self.transport is None:
            return
        if not self._pending and not self._in_message:
            if self.server.draining:
                self._close()
                return
            self.deadline = self.loop.time() + self.limits.header_timeout_s
        if (
            not self._reading
            and not self._write_paused
            and not self._backlog
            and len(self._pending) < MAX_PIPELINE // 2
        ):
            self.transport.resume_reading()
            self._reading = True

    async def _pump(self, response: StreamingResponse, final: bool) -> None:
        """Send a streaming answer's chunks as they come, then the last chunk; then carry on
        with the answers behind it (or close, when it was the last)."""
        try:
            complete = await send_chunks(
                response, lambda: self.transport, self._writable, chunked=not self._http10
            )
        finally:
            self._stream = None
        if self.transport is None:
            return
        if not complete:
            self.transport.abort()
            return
        if not self._http10:  # 1.0: nothing ends the body but the close
            self.transport.write(LAST_CHUNK)
        if final:
            self._close()
        else:
            self._flush()

    def _next_turn(self) -> None:
        if self._reading and self.transport is not None:
            self.transport.resume_reading()

    def _pause_reading(self) -> None:
        if self._reading and self.transport is not None:
            self.transport.pause_reading()
            self._reading = False

    def _drop_requests(self) -> None:
        """Cancel running requests, forget waiting ones, close the producers of streaming
        answers that were waiting their turn, and return every byte to the budget."""
        for task, _, _ in self._pending:
            abandon_unsent(task)
        if self._stream is not None:
            self._stream.cancel()
        self._pending.clear()
        self._backlog.clear()
        self.budget.give_back(self._charged)
        self._charged = 0

    def _fail(self, why: refusal.Refusal) -> None:
        """Answer a request that could not be parsed or accepted, then close (the rest of the
        stream cannot be trusted): lingering, since a socket closed while its client still sends
        (a trickled head, a body past its limit) resets, and the unread answer can be lost."""
        if self.transport is None:
            return
        self._drop_requests()
        answer = why.answer(self._url)
        if self.refused is not None:
            self.refused(self.peer, self.parser, self._url, answer)
        self.transport.write(encode(answer, keep_alive=False))
        if not self.transport.can_write_eof():  # TLS
            self._close()
            return
        self.transport.write_eof()  # FIN; what still comes is discarded (buffer_updated)
        self._linger_left, self._in_message, self._room = LINGER_BYTES, False, None
        self.deadline = self.loop.time() + LINGER_S

    def _close(self) -> None:
        self.deadline = None
        if self.transport is not None:
            self._write_deadline.close(self.transport, self.peer)

    # -- server-driven ------------------------------------------------------------------------

    @property
    def idle(self) -> bool:
        """No request being read, waiting to run, or awaiting its answer."""
        return not (self._pending or self._backlog or self._in_message or self._stream)

    def start_draining(self) -> None:
        """Graceful shutdown: the next answer carries ``Connection: close``, then the connection
        closes. An idle one gets :data:`DRAIN_IDLE_S` first: closed at once, a request its client
        is sending right now would meet a reset; an answer with ``Connection: close`` is clean."""
        self._closing = True
        if self.idle:
            self.deadline = self.loop.time() + DRAIN_IDLE_S

    def expire(self) -> None:
        """Called by the sweeper when ``deadline`` passed: a slow or idle client loses its seat."""
        if self._in_message and self.transport is not None:
            self._fail(refusal.Refusal(408, "request not received in time"))
        else:
            self._close()
