"""Why a request is refused while it is being read: each refusal is answered with its status,
then the connection closes (the rest of the stream cannot be trusted to be framed correctly)."""

from __future__ import annotations

from inferd.protocols.http.budget import RequestBudget


class Refusal(Exception):
    """Raised inside a parser callback to stop parsing with a status and message."""

    def __init__(
        self, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def body_too_large(limit: int) -> Refusal:
    return Refusal(413, f"request body exceeds the limit of {limit} bytes")


def headers_too_large(limit: int) -> Refusal:
    return Refusal(431, f"request headers exceed {limit} bytes")


def over_budget(budget: RequestBudget) -> Refusal:
    """503 + Retry-After: the process holds all the request bodies it may."""
    return Refusal(503, budget.refusal(), [(b"retry-after", b"1")])
