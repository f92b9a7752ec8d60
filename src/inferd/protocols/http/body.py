"""The body of the request being read, assembled with as few copies as its framing allows.

Profiled under ``bench/event_loop_stall.py`` (20 clients sending 8 MiB bodies), growing one
buffer chunk by chunk and copying it into ``bytes`` at the end took 55 to 75 % of the event
loop's time. With many bodies arriving interleaved, a growing buffer is rarely at the top of the
heap, so most growths move it: assembling 20 interleaved 8 MiB bodies from 256 KiB chunks took
7 to 19 ms per body that way, and about 2 ms written once into a buffer of the declared size.

The policy, per body:

1. A body that arrives in one chunk is that chunk: no copy.
2. A body framed by ``Content-Length`` that arrives in several chunks is written into one buffer
   of the declared size, allocated when its first chunk arrives. The connection has checked the
   declared size against ``limits.max_body_bytes`` when the headers completed, and charges the
   whole buffer to the process's budget before it is allocated (it is held from then on), so no
   client-declared size is ever allocated beyond either limit. httptools frames such a body
   exactly, so the buffer is never overrun.
3. A chunked body (``Transfer-Encoding``) declares no size: its chunks are appended to one
   growing buffer (amortized: millions of 1-byte chunks cost linear time and no per-chunk
   object), charged as they are read.

4. Direct reading: once a ``Content-Length`` body has 64 KiB or more still to come, the
   connection has the socket read the rest straight into that buffer (:meth:`BodyReader.room`),
   one copy in all instead of four (kernel → event loop's buffer → ``bytes`` → the parser's body
   slice → the buffer).

The request is handed the buffer itself, never a final copy: ``Request.body`` is ``bytes`` or a
``bytearray`` that nothing writes to once it is handed over.
"""

from __future__ import annotations

import ctypes

_from_string_and_size = ctypes.pythonapi.PyByteArray_FromStringAndSize
_from_string_and_size.restype = ctypes.py_object
_from_string_and_size.argtypes = (ctypes.c_char_p, ctypes.c_ssize_t)


def unfilled(size: int) -> bytearray:
    """A ``bytearray`` of ``size`` bytes that are not set to zero.

    ``bytearray(size)`` zeroes its memory, and for a fresh 8 MiB buffer that touches 2,048 new
    pages at once: 4.4 ms on the event loop (``bench/event_loop_stall.py`` saw health checks wait
    25-55 ms behind a few bodies that started together). Left unwritten, the pages are faulted in
    by the socket reads that fill them, a little at each turn. Only for a buffer that is wholly
    written before it is read: a body is handed over once all its declared bytes arrived."""
    return _from_string_and_size(None, size)  # type: ignore[no-any-return]


class BodyReader:
    """Collects one request body; :meth:`cost` says what a chunk adds to the budget, before
    :meth:`add` keeps it."""

    __slots__ = ("_buffer", "_declared", "_first", "_view", "charged", "length")

    def __init__(self, declared: int = 0) -> None:
        #: The ``Content-Length`` of a body framed by it; 0 for a chunked body.
        self._declared = declared
        self._first = b""
        self._buffer: bytearray | None = None
        #: Set while ``_buffer`` is the pre-sized buffer of a declared body being filled.
        self._view: memoryview | None = None
        #: Body bytes read so far.
        self.length = 0
        #: Budget bytes this body holds (its declared size once pre-sized, else ``length``).
        self.charged = 0

    def cost(self, n: int) -> int:
        """The budget bytes that keeping the next chunk, of ``n`` bytes, takes: a pre-sized
        body's whole declared size at its first chunk (see :meth:`add`), then nothing."""
        if self._view is not None:
            return 0
        if not self.length and n < self._declared:
            return self._declared
        return n

    def add(self, chunk: bytes, cost: int) -> None:
        """Keep ``chunk``, whose :meth:`cost` (``cost``) has been charged."""
        n = len(chunk)
        self.charged += cost
        if self._view is not None:
            self._view[self.length : self.length + n] = chunk
        elif not self.length and n < self._declared:  # the first, not the whole, of a body
            self._buffer = unfilled(self._declared)
            self._view = memoryview(self._buffer)
            self._view[:n] = chunk
        elif self._buffer is not None:
            self._buffer += chunk
        elif not self.length:
            self._first = chunk
        else:
            self._buffer = bytearray(self._first)
            self._buffer += chunk
        self.length += n

    def remaining(self) -> int:
        """Bytes of a ``Content-Length`` body still to come (0 for a chunked one)."""
        return self._declared - self.length if self._declared else 0

    def room_cost(self) -> int:
        """What :meth:`room` adds to the budget: the rest of the declared size, if not held."""
        return 0 if self._view is not None else self._declared - self.charged

    def room(self) -> memoryview:
        """The part of a ``Content-Length`` body's buffer still to fill, for the socket to read
        into (the connection's direct reading; :meth:`room_cost` must have been charged). What
        arrives there is counted by :meth:`filled`."""
        if self._view is None:
            self._buffer = unfilled(self._declared)
            self._view = memoryview(self._buffer)
            self._view[: self.length] = self._first
            self._first = b""
            self.charged = self._declared
        return self._view[self.length :]

    def filled(self, n: int) -> None:
        """``n`` more bytes arrived in :meth:`room`."""
        self.length += n

    def value(self) -> bytes | bytearray:
        """The whole body, without a copy."""
        if self._view is not None:
            self._view.release()
            self._view = None
        body = self._first if self._buffer is None else self._buffer
        if self.length < len(body):
            # A declared body that ended short. Framing by Content-Length alone rules that out,
            # but the rest of an unfilled() buffer is whatever memory held before: never hand
            # it over.
            return bytes(memoryview(body)[: self.length])
        return body


#: The body of a request that has none (no ``Content-Length``, no ``Transfer-Encoding``): one
#: reader shared by every such request, which nothing adds to.
NO_BODY = BodyReader()
