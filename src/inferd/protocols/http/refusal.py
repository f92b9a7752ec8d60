"""Why a request is refused while it is being read: each refusal is answered with its status,
then the connection closes (the rest of the stream cannot be trusted to be framed correctly)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httptools

from inferd.protocols.http.budget import RequestBudget
from inferd.protocols.http.messages import Request, Response, error_for

#: A check of a request's head (method, path, headers), made before its body is read: a
#: response refuses the request with it (the body is never read, nor counted against the
#: budget); None lets it be read. The data plane's API keys use it for requests carrying none.
Screen = Callable[[str, str, Mapping[str, str]], Response | None]
#: A listener's check of every request (the control plane's token, Origin and Host), made on
#: its head with an empty body before the body is read, and again before its handler runs: a
#: response refuses the request with it; None lets it through.
Guard = Callable[[Request], Response | None]

#: Told of each request refused before a handler could see it, with the answer it is sent: the
#: client, the parser that read the request (None: refused before any byte was read) and its
#: target as far as it was read. Set on a connection only when the access log is on
#: (:mod:`.access_log`), and asked only when a request is refused.
Refused = Callable[[str, httptools.HttpRequestParser | None, bytes, Response], None]


class Refusal(Exception):
    """Raised inside a parser callback to stop parsing with a status and message (or with a
    whole ``response``, a :data:`Screen`'s)."""

    def __init__(
        self,
        status: int,
        message: str,
        headers: list[tuple[bytes, bytes]] | None = None,
        response: Response | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers
        self.response = response

    def answer(self, target: bytes = b"") -> Response:
        """The answer to a request for ``target`` (as far as it was read): the screen's
        response, else the error in the shape that target wants (:func:`.messages.error_for`)."""
        if self.response is not None:
            return self.response
        return error_for(target.decode("latin-1"), self.status, self.message, self.headers)


def body_too_large(limit: int) -> Refusal:
    return Refusal(413, f"request body exceeds the limit of {limit} bytes")


def head_too_large(limit: int, *, target: bool = False) -> Refusal:
    """431 for a head past ``limit`` bytes; 414 (URI Too Long, RFC 9110 15.5.15) when its
    request ``target`` alone passes it."""
    if target:
        return Refusal(
            414,
            f"request target exceeds {limit} bytes (limits.max_header_bytes); send large "
            "values in the request body",
        )
    return Refusal(431, f"request headers exceed {limit} bytes")


def over_budget(budget: RequestBudget) -> Refusal:
    """503 + Retry-After: the process holds all the request bodies it may."""
    return Refusal(503, budget.refusal(), [(b"retry-after", b"1")])
