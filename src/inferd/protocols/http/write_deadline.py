"""The write deadline of one connection (flow control 2 of :mod:`.connection`): a client that
leaves answers unread past ``write_buffer_bytes`` gets ``write_timeout_s`` to drain them, and is
then disconnected; the same bound holds for a close that waits on unsent bytes."""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)


class WriteDeadline:
    """At most one timer per connection; started again while it runs, it keeps its time."""

    __slots__ = ("_loop", "_timeout_s", "_timer")

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout_s: float) -> None:
        self._loop = loop
        self._timeout_s = timeout_s
        self._timer: asyncio.TimerHandle | None = None

    def start(self, transport: asyncio.Transport, peer: str) -> None:
        """Abort ``transport`` unless :meth:`cancel` is called within the timeout."""
        if self._timer is None:
            self._timer = self._loop.call_later(self._timeout_s, self._expired, transport, peer)

    def close(self, transport: asyncio.Transport, peer: str) -> None:
        """Close ``transport``: close() waits for unsent bytes, and a peer that never reads them
        must not hold it open forever."""
        if transport.get_write_buffer_size():
            self.start(transport, peer)
        transport.close()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self, transport: asyncio.Transport, peer: str) -> None:
        self._timer = None
        log.info(
            "disconnecting %s: it left %d response bytes unread for %.0f s",
            peer or "a client",
            transport.get_write_buffer_size(),
            self._timeout_s,
        )
        transport.abort()
