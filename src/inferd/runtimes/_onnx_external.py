"""Check the external-data references of an ONNX file before onnxruntime follows them.

An ONNX tensor may keep its bytes in another file (``external_data`` ``location``), resolved by
onnxruntime relative to the model file. A model artifact must not reach outside its own
directory that way, neither by ``..``/absolute paths nor through a symlink, so every tensor in
the file (initializers, sparse initializers, node attributes, subgraphs, functions, training
graphs) is visited with the streaming reader and its locations are checked first.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import BinaryIO

from inferd.errors import InvalidArgument
from inferd.runtimes._protowire import Field, WireError, fields, read_string, submessage

# message kind → {field number: kind of the sub-message it holds}; only paths leading to tensors.
_SCHEMA: dict[str, dict[int, str]] = {
    "model": {7: "graph", 20: "training", 25: "function"},
    "training": {1: "graph", 2: "graph"},
    "graph": {1: "node", 5: "tensor", 15: "sparse"},
    "node": {5: "attribute"},
    "attribute": {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"},
    "sparse": {1: "tensor", 2: "tensor"},
    "function": {7: "node", 11: "attribute"},
}
_TENSOR_EXTERNAL_DATA = 13
#: Subgraphs nest (If/Loop bodies); a file nesting deeper than this is refused, not recursed.
_MAX_DEPTH = 64


def _locations(f: BinaryIO, parts: Iterator[Field], kind: str, depth: int) -> Iterator[str]:
    if depth > _MAX_DEPTH:
        raise InvalidArgument(f"ONNX graph nests deeper than {_MAX_DEPTH} levels")
    if kind == "tensor":
        for part in parts:
            if part.number == _TENSOR_EXTERNAL_DATA:
                entry = {x.number: read_string(f, x) for x in submessage(f, part)}
                if entry.get(1) == "location":
                    yield entry.get(2, "")
        return
    children = _SCHEMA[kind]
    for part in parts:
        child = children.get(part.number)
        if child is not None:
            yield from _locations(f, submessage(f, part), child, depth + 1)


def external_data_locations(model_file: Path) -> list[str]:
    """Every external-data ``location`` named anywhere in the ONNX file, in file order."""
    try:
        with model_file.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(0)
            return list(_locations(f, fields(f, size), "model", 0))
    except WireError as exc:
        raise InvalidArgument(f"{model_file.name!r} is not a valid ONNX model: {exc}") from None


def check_external_data(model_file: Path, root: Path) -> None:
    """Refuse external data that is absolute, climbs with ``..``, leaves ``root``, passes
    through a symlink, or is missing.

    ``root`` is the artifact directory; locations resolve against the model file's directory,
    as onnxruntime resolves them. ``..`` is refused outright: through a symlinked directory it
    would resolve somewhere no lexical check can predict.
    """
    root = root.resolve()
    base = model_file.resolve().parent
    for location in external_data_locations(model_file):
        relative = PurePosixPath(location.replace("\\", "/"))
        if not location or relative.is_absolute() or PureWindowsPath(location).drive:
            raise InvalidArgument(f"ONNX external data location {location!r} is not relative")
        if ".." in relative.parts or not base.is_relative_to(root):
            raise InvalidArgument(
                f"ONNX external data location {location!r} points outside the model directory"
            )
        target = base
        for part in relative.parts:
            target = target / part
            if target.is_symlink():
                raise InvalidArgument(f"ONNX external data location {location!r} is a symlink")
        if not target.is_file():
            raise InvalidArgument(f"ONNX external data file {location!r} is missing")
