"""The control plane's guard: a bearer token, no browser origins, no rebound host names.

Control routes change what the server runs, so a request must carry ``Authorization: Bearer
<token>``; any ``Origin`` header (a browser page, never the CLI or tritonclient) is refused, and
while the listener is on loopback the ``Host`` must be a loopback name, which defeats DNS
rebinding.
"""

from __future__ import annotations

import hmac
import ipaddress

from inferd.protocols.http import Request, Response, error_response
from inferd.protocols.http.server import Guard

_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_name(header: str) -> str:
    """``[::1]:8082`` → ``::1``; ``localhost:8082`` → ``localhost``."""
    if header.startswith("["):
        return header[1 : header.find("]")]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def bearer_guard(token: str, bind_host: str) -> Guard:
    """A guard admitting only requests that carry ``token`` (compared in constant time)."""
    expected = f"Bearer {token}".encode()
    loopback_only = _is_loopback(bind_host)

    def guard(request: Request) -> Response | None:
        if "origin" in request.headers:
            return error_response(403, "control requests from a browser origin are refused")
        if loopback_only and not _is_loopback(_host_name(request.headers.get("host", "")).lower()):
            return error_response(403, "the control plane answers only to a loopback Host")
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return error_response(
                401,
                "the control plane requires 'Authorization: Bearer <token>' (see server.token)",
                [(b"www-authenticate", b"Bearer")],
            )
        return None

    return guard
