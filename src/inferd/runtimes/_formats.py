"""Recognise model file formats by their content, never by their file name.

Each sniffer reads at most a small head of the file (ONNX: its top-level protobuf fields, with
payloads skipped). Pickle, joblib and ``torch.save`` archives match none of them. The ONNX,
XGBoost and LightGBM tests live in :mod:`inferd.formats`, shared with the store.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

from inferd.formats.native import is_lightgbm, is_xgboost
from inferd.formats.onnx import is_onnx


def is_skops(path: Path) -> bool:
    """A zip archive with a ``schema.json`` member: the skops format."""
    try:
        with zipfile.ZipFile(path) as archive:
            return "schema.json" in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


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
