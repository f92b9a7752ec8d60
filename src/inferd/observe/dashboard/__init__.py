"""The gateway's web dashboard: a static page that polls ``/api/status`` and draws it.

The page, its stylesheet and script ship as package data under ``static/`` (no external assets:
the machines it runs on may reach nothing outside). :func:`asset` returns a file's bytes and
media type for the gateway to serve; the status document itself is built by
:mod:`inferd.control.gateway.status`.
"""

from __future__ import annotations

import functools
from importlib import resources

#: URL path → (file under static/, media type). Only these are served.
ASSETS: dict[str, tuple[str, bytes]] = {
    "/": ("index.html", b"text/html; charset=utf-8"),
    "/dashboard.css": ("dashboard.css", b"text/css; charset=utf-8"),
    "/dashboard.js": ("dashboard.js", b"text/javascript; charset=utf-8"),
}


@functools.cache
def asset(path: str) -> tuple[bytes, bytes]:
    """``(content, media type)`` of the asset served at ``path`` (a key of :data:`ASSETS`)."""
    name, media_type = ASSETS[path]
    return resources.files(__package__).joinpath("static", name).read_bytes(), media_type
