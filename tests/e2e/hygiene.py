"""The scan of RELIABILITY R27 (error hygiene): what an error answer must never show a client.

A traceback or a Python class, an absolute filesystem path (the server's home, the temp dirs,
the venv and site-packages, the checkout, or any absolute path of two or more segments), or the
control token. What the request itself carried (its path, its strings) may come back in the
message that names the problem, so those echoes are removed first; routes of inferd's own API
(``/v2/...``), which messages point clients to, are not filesystem paths.

Used by ``test_error_hygiene.py`` and, as a schemathesis check, by ``make fuzz``
(``schemathesis_hooks.py``); it imports nothing from the tests so both can load it.
"""

from __future__ import annotations

import re
import site
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_TRACE = re.compile(r"Traceback|File \"|line \d+, in |<class '|<module |object at 0x")
#: An absolute path of two or more segments, not part of a word, URL or ``$VAR/...``.
_ABS_PATH = re.compile(r"(?<![\w.$~:/\\-])/[\w.\-]+(?:/[\w.\-]*)+")
#: Routes of inferd's own API, which messages may point a client to.
_API_ROUTE = re.compile(r"/v[12]/")


def findings(text: str, echoes: list[str], literals: list[str], token: str) -> list[str]:
    """What ``text`` shows that it must not (empty: clean); ``echoes`` are the request's own
    strings, ``literals`` the server's paths (:func:`server_paths`)."""
    found = []
    if token and (token in text or token[:16] in text):
        found.append("the control token")
    if _TRACE.search(text):
        found.append("a traceback or Python internals")
    # A request's own path-like strings may be named back to it; everything else is the server's.
    for echo in sorted((e for e in echoes if "/" in e or "\\" in e), key=len, reverse=True):
        text = text.replace(echo, "<echo>").replace(repr(echo)[1:-1], "<echo>")
    found += [f"server path {lit!r}" for lit in literals if lit in text]
    found += [
        f"absolute path {m!r}"
        for m in _ABS_PATH.findall(text)
        if not _API_ROUTE.match(m) and not any(m in echo for echo in echoes)
    ]
    return found


def strings(value: object) -> Iterator[str]:
    """Every string in a parsed JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(key)
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def server_paths(home: Path) -> list[str]:
    """Absolute paths of this machine that a client must never see, resolved and as given."""
    paths = {home, Path(tempfile.gettempdir()), Path(sys.prefix), Path(sys.base_prefix), ROOT}
    paths |= {Path(p) for p in sysconfig.get_paths().values()}
    paths |= {Path(p) for p in site.getsitepackages()}
    paths |= {Path.home()}
    out = {str(p) for p in paths} | {str(p.resolve()) for p in paths}
    # "/tmp" alone would also match an echo's neighbour; a path under it names a segment more.
    return sorted((p + "/" if p.count("/") < 2 else p) for p in out if len(p) > 1)
