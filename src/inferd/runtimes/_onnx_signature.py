"""Read an ONNX file's signature without loading it (and without ``onnx``).

The reader streams the protobuf wire format (:mod:`inferd.formats.protowire`; recognising the
file is :mod:`inferd.formats.onnx`): ModelProto.graph (7) → GraphProto initializer (5) /
sparse_initializer (15) names, input (11), output (12) → ValueInfoProto → TypeProto.tensor_type →
elem_type + shape dims. Initializer payloads are skipped with ``seek``, so a model of any size is
read in a few kilobytes of memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from pydantic import ValidationError

from inferd.card import Datatype, Signature, TensorSpec
from inferd.errors import InvalidArgument, Unsupported
from inferd.formats.onnx import graph_field
from inferd.formats.protowire import VARINT, Field, WireError, as_int64, read_string, submessage
from inferd.runtimes._tabular import NotDerived

#: onnx.TensorProto.DataType → Open Inference Protocol datatype.
_ELEM_TYPES: dict[int, Datatype] = {
    1: "FP32",
    2: "UINT8",
    3: "INT8",
    4: "UINT16",
    5: "INT16",
    6: "INT32",
    7: "INT64",
    8: "BYTES",
    9: "BOOL",
    10: "FP16",
    11: "FP64",
    12: "UINT32",
    13: "UINT64",
}
#: What ONNX calls the element types that have no Open Inference Protocol datatype.
_OTHER_TYPES = {
    0: "UNDEFINED",
    14: "COMPLEX64",
    15: "COMPLEX128",
    16: "BFLOAT16",
    17: "FLOAT8E4M3FN",
    18: "FLOAT8E4M3FNUZ",
    19: "FLOAT8E5M2",
    20: "FLOAT8E5M2FNUZ",
    21: "UINT4",
    22: "INT4",
    23: "FLOAT4E2M1",
}


def _tensor_name(f: BinaryIO, tensor: Field) -> str:
    """TensorProto.name (8); the payload (raw_data and friends) is never read."""
    return next((read_string(f, x) for x in submessage(f, tensor) if x.number == 8), "")


def _dims(f: BinaryIO, shape: Field) -> tuple[int, ...]:
    """TensorShapeProto dims: dim_value, or -1 for a dim_param or an unknown dimension."""
    dims: list[int] = []
    for dim in submessage(f, shape):
        if dim.number != 1:
            continue
        value = -1
        for part in submessage(f, dim):
            if part.number == 1 and part.wire_type == VARINT:
                value = max(as_int64(part.value), -1)
        dims.append(value)
    return tuple(dims)


#: TypeProto's fields for the values that are no (dense) tensor, and what each is called.
_NOT_TENSORS = {
    4: "a sequence",
    5: "a map",
    7: "an opaque value",
    8: "a sparse tensor",
    9: "optional",
}
_SEQUENCE, _MAP = 4, 5


def _not_a_tensor(f: BinaryIO, type_proto: Field | None) -> str:
    """What a TypeProto holding no tensor_type holds, and what to do about it."""
    parts = list(submessage(f, type_proto)) if type_proto is not None else []
    kind = next((x for x in parts if x.number in _NOT_TENSORS), None)
    if kind is None:
        return "of no type it declares, and the Open Inference Protocol carries tensors only"
    what = _NOT_TENSORS[kind.number]
    if kind.number == _SEQUENCE:
        element = next((x for x in submessage(f, kind) if x.number == 1), None)
        inner = [x.number for x in submessage(f, element)] if element is not None else []
        if _MAP in inner:  # skl2onnx's ZipMap: seq(map(label, probability))
            return (
                "a sequence of maps (what skl2onnx's ZipMap makes of a classifier's "
                "probabilities), and the Open Inference Protocol carries tensors only: convert "
                "the model without it (to_onnx(model, X, options={'zipmap': False}))"
            )
    return (
        f"{what}, and the Open Inference Protocol carries tensors only: take or give tensors "
        "at the graph's edges (ConcatFromSequence, SplitToSequence)"
        if kind.number == _SEQUENCE
        else f"{what}, and the Open Inference Protocol carries tensors only"
    )


def _value_info(
    f: BinaryIO, info: Field, side: str
) -> tuple[str, Datatype, tuple[int, ...] | None]:
    """(name, datatype, shape or None when the rank is unknown) of a ValueInfoProto, the graph's
    ``side`` ("input" or "output")."""
    name, type_proto = "", None
    for part in submessage(f, info):
        if part.number == 1:
            name = read_string(f, part)
        elif part.number == 2:
            type_proto = part
    tensor_type = None
    if type_proto is not None:
        tensor_type = next((x for x in submessage(f, type_proto) if x.number == 1), None)
    if tensor_type is None:
        raise Unsupported(f"ONNX {side} {name!r} is {_not_a_tensor(f, type_proto)}")
    elem_type, shape = 0, None
    for part in submessage(f, tensor_type):
        if part.number == 1 and part.wire_type == VARINT:
            elem_type = part.value
        elif part.number == 2:
            shape = _dims(f, part)
    if elem_type not in _ELEM_TYPES:
        kind = f"{_OTHER_TYPES.get(elem_type, 'of another type')} (element type {elem_type})"
        raise Unsupported(
            f"ONNX tensor {name!r} is {kind}, which has no Open Inference Protocol datatype: "
            "cast it in the graph to one that has (FP32, FP16, INT64…)"
        )
    return name, _ELEM_TYPES[elem_type], shape


#: (name, datatype, shape or None when the rank is unknown) of each input or output.
_Tensors = list[tuple[str, Datatype, tuple[int, ...] | None]]


def _read(path: Path) -> tuple[_Tensors, _Tensors]:
    """The inputs (initializers excluded) and outputs an ONNX file declares."""
    try:
        with path.open("rb") as f:
            graph = graph_field(f)
            if graph is None:
                raise InvalidArgument(f"{path.name!r} is not an ONNX model")
            initializers: set[str] = set()
            inputs, outputs = [], []
            for part in submessage(f, graph):
                if part.number == 5:
                    initializers.add(_tensor_name(f, part))
                elif part.number == 15:  # SparseTensorProto: its values tensor carries the name
                    values = next((x for x in submessage(f, part) if x.number == 1), None)
                    if values is not None:
                        initializers.add(_tensor_name(f, values))
                elif part.number == 11:
                    inputs.append(_value_info(f, part, "input"))
                elif part.number == 12:
                    outputs.append(_value_info(f, part, "output"))
    except WireError as exc:
        raise InvalidArgument(f"{path.name!r} is not a valid ONNX model: {exc}") from None
    # Older exporters list initializers among the graph inputs; they are weights, not inputs.
    return [i for i in inputs if i[0] not in initializers], outputs


def _specs(path: Path, tensors: _Tensors) -> tuple[TensorSpec, ...]:
    try:
        return tuple(TensorSpec(name=n, datatype=d, shape=s or ()) for n, d, s in tensors)
    except ValidationError:  # e.g. an empty or 300-character tensor name
        raise InvalidArgument(
            f"{path.name!r} declares a tensor name inferd cannot publish (1-256 characters)"
        ) from None


def read_onnx_signature(path: Path) -> Signature | None:
    """The inputs and outputs an ONNX file declares, initializers excluded from the inputs.

    Dimensions that are symbolic or unknown become -1. Returns None when some tensor has no
    declared rank (the signature must then come from the user, or :func:`onnx_partial_signature`
    tells what the file does declare). Raises InvalidArgument when the file is not ONNX and
    Unsupported for inputs/outputs OIP cannot carry.
    """
    inputs, outputs = _read(path)
    if any(shape is None for _, _, shape in inputs + outputs):
        return None
    return Signature(inputs=_specs(path, inputs), outputs=_specs(path, outputs))


def onnx_partial_signature(path: Path) -> Signature:
    """For an ONNX file where some tensor has no declared rank: NotDerived, naming that tensor
    and carrying what the file does declare (its inputs, or its outputs, where each of them has
    a rank), which the metadata may complete. The signature itself where every tensor has one."""
    inputs, outputs = _read(path)
    unknown = [
        f"{kind} {name!r}"
        for kind, tensors in (("input", inputs), ("output", outputs))
        for name, _, shape in tensors
        if shape is None
    ]
    known = {
        side: _specs(path, tensors) if all(s is not None for _, _, s in tensors) else ()
        for side, tensors in (("inputs", inputs), ("outputs", outputs))
    }
    partial = Signature(inputs=known["inputs"], outputs=known["outputs"])
    if not unknown:
        return partial
    raise NotDerived(f"ONNX {', '.join(unknown)} declares no shape, not even a rank", partial)
