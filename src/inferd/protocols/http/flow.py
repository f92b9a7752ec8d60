"""The numbers that bound what one connection reads, runs and keeps at a time (the flow control
:mod:`.connection` describes), in one place for the connection and the server that sizes its
read buffer by them."""

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
