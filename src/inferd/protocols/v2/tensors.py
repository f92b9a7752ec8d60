"""Tensor data ⇄ numpy for one tensor: JSON lists (flat or nested) and binary sections.

The caller has already checked the declared element count against the limits; these functions
check that the data agrees with the declared shape and datatype.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from inferd.datatypes import NUMPY_DTYPES, Array
from inferd.errors import InvalidTensor
from inferd.protocols import bytes_wire

#: numpy kinds a JSON value may arrive as, per target kind (ints are fine for floats, not the
#: reverse: silently truncating 1.5 to 1 would hide a client bug).
_ACCEPTED_KINDS = {"b": "b", "i": "iu", "u": "iu", "f": "iuf"}


def numeric_from_json(
    name: str, datatype: str, data: Any, shape: tuple[int, ...], count: int
) -> Array:
    """A flat or nested JSON list of numbers/booleans → an array of ``shape``."""
    if not isinstance(data, list):
        raise InvalidTensor(name, "'data' must be a list")
    dtype = NUMPY_DTYPES[datatype]
    try:
        # Fast path: numpy parses nested lists of Python numbers in C.
        raw = np.asarray(data)
    except ValueError:
        raise InvalidTensor(name, "'data' is ragged: nested lists of different lengths") from None
    if raw.size != count:
        raise InvalidTensor(
            name, f"shape {list(shape)} needs {count} elements but 'data' has {raw.size}"
        )
    if count == 0:
        return np.zeros(shape, dtype=dtype)
    if raw.dtype.kind not in _ACCEPTED_KINDS[dtype.kind]:
        got = "strings" if raw.dtype.kind in "US" else f"{raw.dtype.kind!r}-kind values"
        if raw.dtype.kind == "O":
            got = "values that are not numbers of one kind (or integers beyond 64 bits)"
        raise InvalidTensor(name, f"datatype {datatype} cannot hold {got}")
    if dtype.kind in "iu":
        info = np.iinfo(dtype.str)
        if raw.min() < info.min or raw.max() > info.max:
            raise InvalidTensor(name, f"values outside the range of {datatype}")
    return raw.astype(dtype, copy=False).reshape(shape)


def _flatten_strings(name: str, data: Any, out: list[bytes], limit: int, depth: int) -> None:
    for item in data:
        if isinstance(item, str):
            out.append(item.encode("utf-8"))
        elif isinstance(item, list):
            # Nesting deeper than the shape's rank is wrong anyway; refusing it also bounds the
            # recursion (JSON allows ~1000 levels, more than Python's stack).
            if depth <= 1:
                raise InvalidTensor(name, "'data' is nested deeper than its shape")
            _flatten_strings(name, item, out, limit, depth - 1)
        else:
            raise InvalidTensor(name, "BYTES data must be strings (nested lists allowed)")
        if len(out) > limit:
            break


def bytes_from_json(name: str, data: Any, shape: tuple[int, ...], count: int) -> Array:
    """JSON strings (flat or nested) → an object array of ``bytes``."""
    if not isinstance(data, list):
        raise InvalidTensor(name, "'data' must be a list")
    items: list[bytes] = []
    _flatten_strings(name, data, items, count, max(len(shape), 1))
    if len(items) != count:
        raise InvalidTensor(
            name, f"shape {list(shape)} needs {count} elements but 'data' has {len(items)}"
        )
    array = np.empty(count, dtype=object)
    array[:] = items
    return array.reshape(shape)


def bytes_to_binary(data: Array) -> bytes:
    """An array of bytes/str → length-prefixed binary elements, row-major."""
    return bytes_wire.encode(
        item if isinstance(item, bytes) else str(item).encode("utf-8")
        for item in data.reshape(-1).tolist()
    )
