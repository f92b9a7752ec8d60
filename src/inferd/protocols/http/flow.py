"""The numbers that bound what one connection reads, runs and keeps at a time, in one place for
the connection and the server that sizes its read buffer by them.

The flow control of :mod:`.connection`, so that one client can hold only a bounded amount of
the server's memory:

1. At most :data:`MAX_PIPELINE` requests run at once per connection; further parsed
   requests wait in a backlog and reading pauses until the running ones are answered.
2. When unsent answers pass ``write_buffer_bytes`` (``pause_writing``), reading pauses,
   nothing new is dispatched and finished answers wait; a client that does not drain them within
   ``write_timeout_s`` is disconnected, as is a close that waits on unsent bytes.
3. Body bytes held are charged to the process's :class:`~.budget.RequestBudget` until the
   request is answered (or the connection dropped); a body that would overdraw it gets 503 +
   Retry-After.
   A ``Content-Length`` body is charged whole when its first chunk arrives (:mod:`.body`).
4. A compressed body (gzip, deflate) is inflated with a bound, ``limits.max_body_bytes`` counting
   the inflated size, and the inflated bytes are charged to the budget too (:mod:`.inflating`);
   another ``Content-Encoding`` gets 415 before its body is read.
5. Turns: a connection that reads :data:`TURN_BYTES` or more at once stops reading until
   the event loop's next turn, so one turn reads at most one buffer (:data:`READ_BYTES`)
   per busy connection.
"""

#: Requests parsed but not yet answered, per connection, before reading pauses (backpressure).
MAX_PIPELINE = 64
#: How long an idle keep-alive connection stays open once the server drains.
DRAIN_IDLE_S = 0.5
#: How long, and for how many bytes, a failed connection waits for its client to close.
LINGER_S, LINGER_BYTES = 2.0, 1024 * 1024
#: A read at least this large ends the connection's turn on the event loop.
TURN_BYTES = 64 * 1024
#: The most one read takes: a read is a copy (and, into a fresh body buffer, page faults) that
#: holds the event loop. 128 KiB rather than uvloop's 256: with 20 clients sending 8 MiB bodies,
#: health p99 9-24 -> 7 ms, bodies answered unchanged; 64 KiB gave 6.5 ms and 15 % fewer bodies.
READ_BYTES = 128 * 1024
