"""One tensor between protobuf and numpy: typed ``contents`` fields, or raw little-endian bytes.

Decoding checks everything that bounds memory before allocating: the rank, the element count
(Python integers cannot overflow, so a shape of huge dimensions is just a large number), and that
the data present is exactly what the shape declares. A shape that disagrees with its data is the
client's mistake (:class:`~inferd.errors.InvalidTensor`); data that agrees with its shape but is
beyond the configured element limit is :class:`~inferd.errors.PayloadTooLarge`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from inferd.config import LimitSettings
from inferd.datatypes import NUMPY_DTYPES, Array, element_size
from inferd.errors import InternalError, InvalidTensor, PayloadTooLarge
from inferd.protocols import bytes_wire
from inferd.protocols._generated import inference_pb2 as pb

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

#: The numpy type of each contents field as protobuf stores it (narrow ints travel widened).
_FIELD_DTYPES: dict[str, np.dtype[np.generic]] = {
    "bool_contents": np.dtype(np.bool_),
    "int_contents": np.dtype(np.int32),
    "int64_contents": np.dtype(np.int64),
    "uint_contents": np.dtype(np.uint32),
    "uint64_contents": np.dtype(np.uint64),
    "fp32_contents": np.dtype(np.float32),
    "fp64_contents": np.dtype(np.float64),
}


def _check_datatype(name: str, datatype: str) -> None:
    if datatype not in NUMPY_DTYPES:
        raise InvalidTensor(
            name, f"unknown datatype {datatype!r}; expected one of {', '.join(NUMPY_DTYPES)}"
        )


def _declared_elements(name: str, shape: Sequence[int], limits: LimitSettings) -> int:
    """The element count ``shape`` declares, after checking its rank and signs."""
    if len(shape) > limits.max_tensor_rank:
        raise InvalidTensor(
            name, f"rank {len(shape)} is beyond the limit of {limits.max_tensor_rank}"
        )
    count = 1
    span = 1  # the product of the non-zero dimensions: what numpy must index
    for dim in shape:
        if dim < 0:
            raise InvalidTensor(name, f"shape {list(shape)} has a negative dimension")
        count *= dim
        span *= dim or 1
    # An empty tensor passes every size check; one absurd dimension beside the zero, e.g.
    # [0, 2**40], must still be refused before numpy is asked to index it.
    if count == 0 and span > limits.max_tensor_elements:
        raise InvalidTensor(
            name,
            f"shape {list(shape)} spans {span} elements, beyond the limit of "
            f"{limits.max_tensor_elements}",
        )
    return count


def _check_element_limit(name: str, count: int, limits: LimitSettings) -> None:
    if count > limits.max_tensor_elements:
        raise PayloadTooLarge(
            f"tensor {name!r}: {count} elements are beyond the limit of "
            f"{limits.max_tensor_elements}"
        )


def from_contents(
    name: str,
    datatype: str,
    shape: Sequence[int],
    contents: pb.InferTensorContents,
    limits: LimitSettings,
) -> Array:
    """Typed ``contents`` → an array of ``shape``; the datatype's own field must hold the data."""
    _check_datatype(name, datatype)
    count = _declared_elements(name, shape, limits)
    field = _CONTENTS_FIELD.get(datatype)
    if field is None:
        raise InvalidTensor(name, f"{datatype} data can only be sent in raw_input_contents")
    stray = [f.name for f, _ in contents.ListFields() if f.name != field]
    if stray:
        raise InvalidTensor(
            name, f"datatype {datatype} takes its data in {field}, not {', '.join(stray)}"
        )
    values = getattr(contents, field)
    if len(values) != count:
        raise InvalidTensor(
            name, f"shape {list(shape)} needs {count} elements but {field} has {len(values)}"
        )
    _check_element_limit(name, count, limits)
    if datatype == "BYTES":
        array = np.empty(count, dtype=object)
        array[:] = list(values)
        return array.reshape(tuple(shape))
    wide = np.fromiter(values, dtype=_FIELD_DTYPES[field], count=count)
    # INT8/16 and UINT8/16 travel widened: narrowing must not wrap a value around.
    narrow = wide.astype(NUMPY_DTYPES[datatype], copy=False)
    if narrow is not wide and not np.array_equal(narrow, wide):
        raise InvalidTensor(name, f"values outside the range of {datatype}")
    return narrow.reshape(tuple(shape))


def from_raw(
    name: str, datatype: str, shape: Sequence[int], raw: bytes, limits: LimitSettings
) -> Array:
    """Raw little-endian bytes → an array of ``shape`` (read-only: it shares ``raw``'s memory)."""
    _check_datatype(name, datatype)
    count = _declared_elements(name, shape, limits)
    if datatype == "BYTES":
        if count <= len(raw) // bytes_wire.LENGTH.size:  # else decode names the shortfall
            _check_element_limit(name, count, limits)
        return bytes_wire.decode(name, raw, tuple(shape), count)
    expected = count * element_size(datatype)
    if len(raw) != expected:
        raise InvalidTensor(
            name,
            f"shape {list(shape)} of {datatype} needs {expected} bytes "
            f"but its raw_input_contents entry has {len(raw)}",
        )
    _check_element_limit(name, count, limits)
    if datatype == "BOOL" and count and np.frombuffer(raw, dtype=np.uint8).max() > 1:
        raise InvalidTensor(name, "BOOL raw data must be bytes of 0 or 1")
    return np.frombuffer(raw, dtype=NUMPY_DTYPES[datatype]).reshape(tuple(shape))


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
