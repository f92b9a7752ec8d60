"""The memory that request bodies may hold across every connection of a process.

A body cap bounds one request; it does not bound a thousand requests each just under the cap.
:class:`RequestBudget` counts the body bytes that have been read and not yet answered (being
received, queued, or being handled) across every connection that shares it, and refuses bytes
that would pass the limit. Servers built from one :class:`~inferd.protocols.http.server.HttpLimits`
share one budget, so in ``inferd serve`` the data and control planes draw on the same memory.
Single-threaded: it is only touched from the event loop that serves the connections.
"""

from __future__ import annotations


class RequestBudget:
    """``used`` body bytes out of ``limit``; :meth:`take` refuses what would not fit."""

    __slots__ = ("limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, n: int) -> bool:
        """Reserve ``n`` bytes; False (and nothing reserved) when they would pass the limit."""
        if self.used + n > self.limit:
            return False
        self.used += n
        return True

    def give_back(self, n: int) -> None:
        self.used -= n

    def refusal(self) -> str:
        """The error a client sees when the budget is spent: it names the setting."""
        return (
            f"the server is holding its limit of {self.limit} bytes of request bodies "
            "(limits.max_buffered_request_bytes); retry shortly"
        )
