"""Recognise the native model files of XGBoost (JSON or UBJSON) and LightGBM (text).

Both are read by their own libraries' parsers, never unpickled. Each test looks at a bounded head
of the file.
"""

from __future__ import annotations

import re
from pathlib import Path

_HEAD_BYTES = 64 * 1024
_XGBOOST_JSON = re.compile(rb'\A\s*\{.{0,4096}?"learner"\s*:\s*\{', re.DOTALL)
# UBJSON object whose first key is "learner": '{', an integer-type marker, the length 7, the key.
_XGBOOST_UBJ = re.compile(rb"\A\{(?:i\x07|U\x07|I\x00\x07|l\x00{3}\x07|L\x00{7}\x07)learner")
_LIGHTGBM_TEXT = re.compile(rb"\Atree\r?\nversion=")


def _head(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(_HEAD_BYTES)


def is_xgboost(path: Path) -> bool:
    """XGBoost's native JSON (a ``learner`` object) or UBJSON (the same, binary) model."""
    head = _head(path)
    return bool(_XGBOOST_UBJ.match(head) or _XGBOOST_JSON.match(head))


def is_lightgbm(path: Path) -> bool:
    """LightGBM's text model, which opens with ``tree`` and a ``version=`` line."""
    return bool(_LIGHTGBM_TEXT.match(_head(path)))
