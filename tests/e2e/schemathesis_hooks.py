"""schemathesis hooks for ``test_openapi_real.py`` (``make fuzz``), loaded through
``SCHEMATHESIS_HOOKS``: every error answer of the fuzzed server gets R27's scan (:mod:`hygiene`).

The server's home and control token come from ``INFERD_FUZZ_HOME`` and ``INFERD_FUZZ_TOKEN``.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import schemathesis
from hygiene import findings, server_paths, strings

_LITERALS = server_paths(Path(os.environ["INFERD_FUZZ_HOME"]))
_TOKEN = os.environ["INFERD_FUZZ_TOKEN"]


@schemathesis.check
def error_bodies_are_clean(ctx: Any, response: Any, case: Any) -> None:
    """An error answer shows no traceback, server path or token (RELIABILITY R27)."""
    if response.status_code < 400:
        return
    path = urlsplit(str(response.request.url)).path
    echoes = [path, unquote(path), *map(unquote, path.split("/"))]
    echoes += [str(v) for v in case.path_parameters.values()]
    body = response.request.body or b""
    with contextlib.suppress(ValueError, TypeError, RecursionError):
        echoes += strings(json.loads(body))
    text = response.content.decode("utf-8", "replace")
    found = findings(text, echoes, _LITERALS, _TOKEN)
    if found:
        raise AssertionError(f"{response.status_code} error body shows {'; '.join(found)}")
