"""DNS rebinding: a data plane on loopback without API keys answers only to a loopback ``Host``.

A web page whose DNS name re-resolves to 127.0.0.1 reaches a server on loopback as its own
origin (no CORS stands in the way), and the browser sends the page's name as the ``Host``. So a
listener bound to a loopback address, while no key is required, refuses every request whose
``Host`` is not ``localhost``, a name under ``.localhost`` (RFC 6761: never resolved elsewhere),
an address in 127.0.0.0/8 or ``[::1]`` (any port), with 403 naming the Host and how to allow it,
as Ollama answers (CVE-2024-28224). A request with no ``Host`` passes (no browser omits it).
Bound beyond loopback, or once keys are required, the Host is not looked at: reverse proxies
send their own. The names are the control plane's (:func:`inferd.protocols.v2.auth.loopback_host`).

Cross-site requests: a page on any other site may send a "simple" request (a ``POST`` with
``Content-Type: text/plain``, no preflight) to ``http://127.0.0.1:8080``; the browser sends a
loopback ``Host`` and the page's ``Origin``. It cannot read the answer, but it can start
inference or a generation. So the same listener also refuses a request whose ``Origin`` is not
a loopback one (``null`` included: a sandboxed frame or a ``file:`` page), as Ollama does unless
``OLLAMA_ORIGINS`` allows it. A request without ``Origin`` (curl, SDKs, tritonclient) passes.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from inferd.protocols.http import Response
from inferd.protocols.http.messages import error_for
from inferd.protocols.http.refusal import Screen
from inferd.protocols.v2.auth import is_loopback, loopback_host

__all__ = ["binds_loopback", "both", "loopback_host", "loopback_origin", "rebinding_screen"]


def binds_loopback(host: str) -> bool:
    """Whether a listener bound to ``host`` listens on loopback only: a loopback name or
    address, or a name every address of which is loopback (``gateway.host: <this machine's
    name>`` is 127.0.1.1 on Debian). A wildcard (``0.0.0.0``, ``::``, ``""``) is not."""
    if is_loopback(host):
        return True
    if not host:
        return False
    try:
        ipaddress.ip_address(host)
        return False  # an address, not loopback
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:  # the listener cannot bind it either
        return False
    return bool(found) and all(is_loopback(str(info[4][0])) for info in found)


def rebinding_screen(requires_keys: Callable[[], bool]) -> Screen:
    """The check of a loopback listener's requests (by their head, before the body is read):
    a request whose ``Host`` is not loopback, or whose ``Origin`` is another site's page, is
    refused while ``requires_keys()`` is false."""

    def screen(method: str, path: str, headers: Mapping[str, str]) -> Response | None:
        host = headers.get("host", "")
        origin = headers.get("origin")
        host_ok = loopback_host(host)
        if (host_ok and (origin is None or loopback_origin(origin))) or requires_keys():
            return None
        if host_ok:
            return error_for(
                path,
                403,
                f"the Origin {origin!r} is not a loopback page, and this server listens on "
                "loopback without API keys: a page of another site may not call it "
                "(cross-site request). Serve the page from localhost, require API keys "
                "('inferd keys create'), or bind the server to a non-loopback address",
            )
        return error_for(
            path,
            403,
            f"the Host {host!r} is not a loopback name, and this server listens on loopback "
            "without API keys: it answers only to localhost, *.localhost, 127.0.0.0/8 and "
            "[::1] (DNS rebinding). Call it by one of those (a reverse proxy: set its Host "
            "header to localhost), require API keys ('inferd keys create'), or bind it to a "
            "non-loopback address",
        )

    return screen


@functools.lru_cache(maxsize=256)
def loopback_origin(origin: str) -> bool:
    """Whether an ``Origin`` header names a page served from this machine's loopback
    (``http://localhost:3000``, ``https://127.0.0.1``, ``http://[::1]:8080``); ``null`` and
    every other scheme (``file:``, an extension's) are not. Cached: browsers send few values."""
    try:
        parts = urlsplit(origin.strip())
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc) and loopback_host(parts.netloc)


def both(first: Screen, second: Screen | None) -> Screen:
    """``first``, then ``second`` where ``first`` lets a request through."""
    if second is None:
        return first

    def screen(method: str, path: str, headers: Mapping[str, str]) -> Response | None:
        refused = first(method, path, headers)
        return refused if refused is not None else second(method, path, headers)

    return screen
