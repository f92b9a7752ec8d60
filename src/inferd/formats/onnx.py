"""Recognise an ONNX model, and list the external-data files its tensors name.

A model is a file that parses, to its last byte, as a protobuf ModelProto whose known top-level
fields have their declared wire types, with an IR version and a graph. Payloads are skipped with
``seek`` (:mod:`.protowire`), so a model of any size costs a few reads.

An ONNX tensor may keep its bytes in another file (``external_data`` ``location``, resolved
relative to the model file): every tensor in the file (initializers, sparse initializers, node
attributes, subgraphs, functions, training graphs) is visited for those locations.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from inferd.errors import InvalidArgument
from inferd.formats.protowire import LEN, VARINT, Field, WireError, fields, read_string, submessage

#: ModelProto fields and their wire types; a file whose top level disagrees is not ONNX.
_MODEL_FIELDS = {
    1: VARINT,
    2: LEN,
    3: LEN,
    4: LEN,
    5: VARINT,
    6: LEN,
    7: LEN,
    8: LEN,
    14: LEN,
    20: LEN,
    25: LEN,
    26: LEN,
}
_MAX_IR_VERSION = 1000
_GRAPH = 7
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


def _file_size(f: BinaryIO) -> int:
    size = f.seek(0, os.SEEK_END)
    f.seek(0)
    return size


def graph_field(f: BinaryIO) -> Field | None:
    """The ModelProto.graph field if the whole file is a plausible ModelProto, else None.

    Raises :class:`~inferd.formats.protowire.WireError` when the bytes are not protobuf at all.
    """
    graph: Field | None = None
    ir_version = 0
    for field in fields(f, _file_size(f)):
        expected = _MODEL_FIELDS.get(field.number)
        if expected is not None and expected != field.wire_type:
            return None
        if field.number == 1:
            ir_version = field.value
        elif field.number == _GRAPH:
            graph = field
    return graph if 0 < ir_version <= _MAX_IR_VERSION else None


def is_onnx(path: Path) -> bool:
    """True when the file parses as an ONNX ModelProto (ir_version and a graph present)."""
    try:
        with path.open("rb") as f:
            return graph_field(f) is not None
    except (WireError, OSError):
        return False


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
    """Every external-data ``location`` named anywhere in the ONNX file, in file order.

    Raises InvalidArgument when the file is not protobuf or nests graphs too deep.
    """
    try:
        with model_file.open("rb") as f:
            return list(_locations(f, fields(f, _file_size(f)), "model", 0))
    except WireError as exc:
        raise InvalidArgument(f"{model_file.name!r} is not a valid ONNX model: {exc}") from None
