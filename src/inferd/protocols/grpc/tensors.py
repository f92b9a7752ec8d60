"""One tensor between protobuf and numpy: typed ``contents`` fields, or raw little-endian bytes.

Decoding picks the field that carries the data and hands it to :mod:`inferd.protocols.tensor_wire`,
which checks it against the declared header exactly as for REST.
"""

from __future__ import annotations

import numpy as np

from inferd.config import LimitSettings
from inferd.datatypes import NUMPY_DTYPES, Array
from inferd.errors import InternalError, InvalidTensor
from inferd.protocols import bytes_wire, tensor_wire
from inferd.protocols._generated import inference_pb2 as pb
from inferd.protocols.tensor_wire import Declared

#: The ``InferTensorContents`` field that carries each datatype. FP16 has none: raw bytes only.
_CONTENTS_FIELD: dict[str, str] = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}

#: The numpy type of each contents field as protobuf stores it (narrow ints travel widened);
#: ``bytes_contents`` has none: its values are ``bytes`` already.
_FIELD_DTYPES: dict[str, np.dtype[np.generic]] = {
    "bool_contents": np.dtype(np.bool_),
    "int_contents": np.dtype(np.int32),
    "int64_contents": np.dtype(np.int64),
    "uint_contents": np.dtype(np.uint32),
    "uint64_contents": np.dtype(np.uint64),
    "fp32_contents": np.dtype(np.float32),
    "fp64_contents": np.dtype(np.float64),
}


def from_contents(
    tensor: Declared, contents: pb.InferTensorContents, limits: LimitSettings
) -> Array:
    """Typed ``contents`` → an array; the datatype's own field must hold the data."""
    field = _CONTENTS_FIELD.get(tensor.datatype)
    if field is None:
        raise InvalidTensor(
            tensor.name, f"{tensor.datatype} data can only be sent in raw_input_contents"
        )
    stray = [f.name for f, _ in contents.ListFields() if f.name != field]
    if stray:
        raise InvalidTensor(
            tensor.name,
            f"datatype {tensor.datatype} takes its data in {field}, not {', '.join(stray)}",
        )
    return tensor_wire.from_values(
        tensor, getattr(contents, field), _FIELD_DTYPES.get(field), limits, field
    )


def from_raw(tensor: Declared, raw: bytes, limits: LimitSettings) -> Array:
    """Raw little-endian bytes → an array (read-only: it shares ``raw``'s memory)."""
    return tensor_wire.from_binary(tensor, raw, limits, "its raw_input_contents entry")


def _as_bytes(name: str, item: object) -> bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return item.encode("utf-8")
    raise InternalError(f"output {name!r} holds a {type(item).__name__} where BYTES need bytes")


def _output_dtype(name: str, datatype: str) -> np.dtype[np.generic]:
    try:
        return NUMPY_DTYPES[datatype]
    except KeyError:
        raise InternalError(f"output {name!r} has unknown datatype {datatype!r}") from None


def to_raw(name: str, datatype: str, data: Array) -> bytes:
    """An output → raw bytes: little-endian row-major, BYTES elements length-prefixed."""
    dtype = _output_dtype(name, datatype)
    if datatype == "BYTES":
        return bytes_wire.encode(_as_bytes(name, item) for item in data.reshape(-1).tolist())
    return np.ascontiguousarray(data, dtype=dtype).tobytes()


def to_contents(name: str, datatype: str, data: Array, contents: pb.InferTensorContents) -> None:
    """An output → the typed field of ``contents`` its datatype uses (not FP16: see to_raw)."""
    dtype = _output_dtype(name, datatype)
    field = _CONTENTS_FIELD.get(datatype)
    if field is None:
        raise InternalError(f"output {name!r}: {datatype} can only travel as raw bytes")
    flat = data.reshape(-1)
    target = getattr(contents, field)
    if datatype == "BYTES":
        target.extend(_as_bytes(name, item) for item in flat.tolist())
    else:
        # Through the declared dtype first, so values wrap exactly as they would in raw bytes.
        wire = flat.astype(dtype, copy=False).astype(_FIELD_DTYPES[field], copy=False)
        target.extend(wire.tolist())
