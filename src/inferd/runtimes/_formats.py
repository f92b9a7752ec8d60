"""Recognise model file formats by their content, never by their file name.

Each sniffer reads at most a small head of the file (ONNX: its top-level protobuf fields, with
payloads skipped). Pickle, joblib and ``torch.save`` archives match none of them.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from pathlib import Path

from inferd.runtimes._onnx_signature import is_onnx

_HEAD_BYTES = 64 * 1024
_XGBOOST_JSON = re.compile(rb'\A\s*\{.{0,4096}?"learner"\s*:\s*\{', re.DOTALL)
# UBJSON object whose first key is "learner": '{', an integer-type marker, the length 7, the key.
_XGBOOST_UBJ = re.compile(rb"\A\{(?:i\x07|U\x07|I\x00\x07|l\x00{3}\x07|L\x00{7}\x07)learner")
_LIGHTGBM_TEXT = re.compile(rb"\Atree\r?\nversion=")


def _head(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(_HEAD_BYTES)


def is_skops(path: Path) -> bool:
    """A zip archive with a ``schema.json`` member: the skops format."""
    try:
        with zipfile.ZipFile(path) as archive:
            return "schema.json" in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def is_xgboost(path: Path) -> bool:
    """XGBoost's native JSON (a ``learner`` object) or UBJSON (the same, binary) model."""
    head = _head(path)
    return bool(_XGBOOST_UBJ.match(head) or _XGBOOST_JSON.match(head))


def is_lightgbm(path: Path) -> bool:
    """LightGBM's text model, which opens with ``tree`` and a ``version=`` line."""
    return bool(_LIGHTGBM_TEXT.match(_head(path)))


#: runtime name → content test, cheapest first; a file matches at most one.
SNIFFERS: dict[str, Callable[[Path], bool]] = {
    "lightgbm": is_lightgbm,
    "xgboost": is_xgboost,
    "sklearn": is_skops,
    "onnx": is_onnx,
}


def sniff(path: Path) -> str | None:
    """The runtime that reads this file, or None if its format is not one inferd recognises."""
    if not path.is_file() or path.is_symlink():
        return None
    return next((runtime for runtime, test in SNIFFERS.items() if test(path)), None)
