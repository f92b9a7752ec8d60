"""Recognise model file formats by their content, never by their file name.

Each sniffer reads at most a small head of the file (ONNX: its top-level protobuf fields, with
payloads skipped; GGUF: its magic and version). Pickle, joblib and ``torch.save`` archives match
none of them. The ONNX, GGUF, XGBoost and LightGBM tests live in :mod:`inferd.formats`, shared
with the store.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

from inferd.formats.gguf import is_gguf
from inferd.formats.native import is_lightgbm, is_xgboost
from inferd.formats.onnx import graph_field, is_onnx
from inferd.formats.protowire import WireError


def is_skops(path: Path) -> bool:
    """A zip archive with a ``schema.json`` member: the skops format."""
    try:
        with zipfile.ZipFile(path) as archive:
            return "schema.json" in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


#: The start of what torch.save wrote before PyTorch 1.6: a protocol-2 pickle of its magic
#: number, 0x1950a86a20f9469cfc6c.
_LEGACY_TORCH = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"
#: Members (by their last path component) of the zip archives PyTorch writes.
_TORCH_MEMBERS = frozenset(
    {"data.pkl", "constants.pkl", "archive_format", "serialized_exported_program.json"}
)
#: Runtime names a PyTorch user may ask for, and what to do instead: no runtime loads torch.
TORCH_RUNTIMES = frozenset({"torch", "pytorch", "torchscript"})
TORCH_ADVICE = (
    "no inferd runtime loads PyTorch files: export the model to ONNX (torch.onnx.export) and "
    "push the .onnx file, or push the file with the python runtime and a class whose load() "
    "reads it with torch installed where the server runs (see examples/python-model)"
)


def is_pytorch(path: Path) -> bool:
    """A PyTorch file, for what to tell its pusher (no runtime loads one): the zip archive
    torch.save and torch.jit.save write (a ``data.pkl`` or ``constants.pkl`` member), the one
    torch.export.save writes (a PT2 archive's ``archive_format`` member, or before PyTorch 2.6
    ``serialized_exported_program.json``), or the legacy torch.save pickle (its magic number
    first)."""
    try:
        with path.open("rb") as f:
            if f.read(len(_LEGACY_TORCH)) == _LEGACY_TORCH:
                return True
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any(name.rpartition("/")[2] in _TORCH_MEMBERS for name in names)


#: runtime name → content test, cheapest first; a file matches at most one.
SNIFFERS: dict[str, Callable[[Path], bool]] = {
    "llamacpp": is_gguf,
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


#: What each runtime's file is, for messages about a file that is not one.
FORMATS: dict[str, str] = {
    "llamacpp": "a valid GGUF model (the magic 'GGUF' and version 2 or 3)",
    "lightgbm": "a valid LightGBM model (a text model opening with 'tree' and 'version=')",
    "xgboost": "a valid XGBoost model (JSON or UBJSON, an object whose first key is 'learner')",
    "sklearn": "a valid skops model (a zip archive holding schema.json)",
    "onnx": "a valid ONNX model (a protobuf ModelProto with an IR version and a graph)",
}


def format_problem(path: Path, runtime: str) -> str | None:
    """What is wrong with the file at ``path`` as one the ``runtime`` loads (e.g. "its bytes are
    not protobuf (truncated varint)"); None when it is in that format, or when the runtime reads
    no format inferd recognises (python). Reads about as much as :func:`sniff`."""
    test = SNIFFERS.get(runtime)
    if test is None or test(path):
        return None
    try:
        with path.open("rb") as f:
            head = f.read(16)
            if not head:
                return "it is empty"
            other = sniff(path)
            if other is not None:
                return f"it is in the {other} runtime's format"
            if runtime == "onnx":
                f.seek(0)
                try:
                    graph_field(f)
                except WireError as exc:
                    return f"its bytes are not protobuf ({exc})"
                return "its top-level fields are not a ModelProto's"
    except OSError as exc:
        return f"it cannot be read ({exc.strerror})"
    if runtime == "sklearn" and zipfile.is_zipfile(path):
        return "the zip archive holds no schema.json"
    return f"it starts with {head!r}"
