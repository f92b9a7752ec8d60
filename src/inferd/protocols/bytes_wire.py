"""The wire form of BYTES tensors, shared by the REST binary extension and gRPC raw contents:
each element is a 4-byte little-endian length followed by that many bytes, row-major."""

from __future__ import annotations

import struct
from collections.abc import Iterable

import numpy as np

from inferd.datatypes import Array
from inferd.errors import InvalidTensor

LENGTH = struct.Struct("<I")


def decode(name: str, raw: bytes | memoryview, shape: tuple[int, ...], count: int) -> Array:
    """Length-prefixed elements → an object array of ``bytes`` of ``shape`` (``count`` elements).

    The caller (:func:`inferd.protocols.tensor_wire.from_binary`) has checked that ``raw`` can
    hold ``count`` prefixes and that ``count`` is within the limits; every element and its length
    are checked here, and every byte must belong to one.
    """
    end = len(raw)
    array = np.empty(count, dtype=object)
    pos = 0
    for index in range(count):
        if pos + LENGTH.size > end:
            raise InvalidTensor(name, f"BYTES data ends before element {index}")
        (length,) = LENGTH.unpack_from(raw, pos)
        pos += LENGTH.size
        if pos + length > end:
            raise InvalidTensor(
                name, f"BYTES element {index} declares {length} bytes but {end - pos} remain"
            )
        array[index] = bytes(raw[pos : pos + length])
        pos += length
    if pos != end:
        raise InvalidTensor(name, f"{end - pos} bytes left over after {count} BYTES elements")
    return array.reshape(shape)


def encode(elements: Iterable[bytes]) -> bytes:
    """Elements, already bytes, → their length-prefixed concatenation."""
    parts: list[bytes] = []
    for raw in elements:
        parts.append(LENGTH.pack(len(raw)))
        parts.append(raw)
    return b"".join(parts)
