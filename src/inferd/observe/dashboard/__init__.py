"""The gateway's web dashboard: a static page that polls ``/api/status`` and draws it.

The page, its stylesheet and its scripts (one per concern: formats, tables, charts, lineage,
and ``dashboard.js``, which polls; plain scripts run in the order ``index.html`` lists them) ship
as package data under ``static/`` (no external assets: the machines it runs on may reach nothing
outside). :func:`asset` returns a file's bytes and media type for the gateway to serve; the
status document itself is built by :mod:`inferd.control.gateway.status`.

The charts use uPlot, which is not ours and so not in git: ``scripts/web-assets`` fetches a
pinned release into ``static/vendor/`` at install time (``make venv``), and the wheel ships it.
Without those files the page still works: tables only, and a line naming the script.
"""

from __future__ import annotations

import functools
from importlib import resources

from inferd.errors import NotFound

#: The page's own scripts, in the order index.html runs them (each uses the ones before it).
SCRIPTS = ("format.js", "tables.js", "charts.js", "lineage.js", "dashboard.js")
#: URL path → (file under static/, media type). Only these are served.
ASSETS: dict[str, tuple[str, bytes]] = {
    "/": ("index.html", b"text/html; charset=utf-8"),
    "/dashboard.css": ("dashboard.css", b"text/css; charset=utf-8"),
    **{f"/{name}": (name, b"text/javascript; charset=utf-8") for name in SCRIPTS},
    "/vendor/uPlot.min.css": ("vendor/uPlot.min.css", b"text/css; charset=utf-8"),
    "/vendor/uPlot.iife.min.js": ("vendor/uPlot.iife.min.js", b"text/javascript; charset=utf-8"),
}
#: The assets ``scripts/web-assets`` fetches; the others are in git.
VENDORED = frozenset(path for path, (name, _) in ASSETS.items() if name.startswith("vendor/"))


@functools.cache
def asset(path: str) -> tuple[bytes, bytes]:
    """``(content, media type)`` of the asset served at ``path`` (a key of :data:`ASSETS`).

    Raises :class:`NotFound` for a vendored file that was not fetched (checked again on the
    next call: a miss is not cached)."""
    name, media_type = ASSETS[path]
    try:
        content = resources.files(__package__).joinpath("static", name).read_bytes()
    except FileNotFoundError:
        raise NotFound(f"{path} is not installed: run scripts/web-assets") from None
    return content, media_type
