"""Open Inference Protocol datatypes and their numpy equivalents (little-endian on the wire)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from inferd.card import DATATYPE_SIZES
from inferd.errors import InvalidArgument

#: One tensor, as every layer holds it: a numpy array (BYTES as an object array of ``bytes``).
Array = npt.NDArray[np.generic]
#: Named tensors: a request's inputs or a model's outputs.
Tensors = dict[str, Array]


def object_array(items: Sequence[object], shape: tuple[int, ...]) -> Array:
    """Python objects (``bytes``, ``str``) → an object array of ``shape``, one element each.

    Assigned into an empty array rather than ``np.array(items, dtype=object)``, which inspects
    every item (slower) and turns equal-length sequences into a second dimension."""
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array.reshape(shape)


#: OIP datatype → numpy dtype. BYTES maps to object arrays whose elements are ``bytes``.
NUMPY_DTYPES: dict[str, np.dtype[np.generic]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "BYTES": np.dtype(np.object_),
}

_BY_KIND: dict[tuple[str, int], str] = {
    (dt.kind, dt.itemsize): name for name, dt in NUMPY_DTYPES.items() if name != "BYTES"
}


def numpy_dtype(datatype: str) -> np.dtype[np.generic]:
    """The numpy dtype for an OIP datatype; an unknown name is the client's mistake."""
    try:
        return NUMPY_DTYPES[datatype]
    except KeyError:
        raise InvalidArgument(
            f"unknown datatype {datatype!r}; expected one of {', '.join(NUMPY_DTYPES)}"
        ) from None


def oip_datatype(dtype: np.dtype[np.generic]) -> str:
    """The OIP datatype for a numpy dtype (strings and bytes become BYTES)."""
    if dtype.kind in "OSU":
        return "BYTES"
    try:
        return _BY_KIND[(dtype.kind, dtype.itemsize)]
    except KeyError:
        raise InvalidArgument(
            f"numpy dtype {dtype} has no Open Inference Protocol datatype"
        ) from None


def element_size(datatype: str) -> int:
    """Bytes per element on the wire; 0 for BYTES (variable)."""
    numpy_dtype(datatype)  # validates the name
    return DATATYPE_SIZES[datatype]
