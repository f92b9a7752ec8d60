"""Read a safetensors file's header, never its tensor data.

A safetensors file is an 8-byte little-endian header length, a JSON header (each tensor's dtype,
shape and ``data_offsets`` into the data region, plus an optional ``__metadata__`` map of
strings), then the data region. :func:`read_safetensors` reads the 8 bytes and the header alone
(at most :data:`MAX_HEADER_BYTES`, the safetensors library's own limit) and checks it the way
the library does before it maps the data: every tensor a known dtype whose byte range holds
exactly its shape, the ranges laid end to end from 0 to the end of the file with no gap or
overlap. A file that passes describes every byte it holds.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import orjson

from inferd.errors import InvalidArgument

MAX_HEADER_BYTES = 100_000_000
#: The safetensors library computes sizes in 64-bit integers; a shape beyond is refused there.
_MAX_ELEMENTS = 2**64 - 1
#: Dimensions of a shape a message shows.
_SHOWN_DIMS = 8

#: Bits per element of every dtype the safetensors format defines.
DTYPE_BITS: dict[str, int] = {
    "BOOL": 8,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "I64": 64,
    "U64": 64,
    "F64": 64,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
}


class MalformedSafetensors(InvalidArgument):
    """A file that is not a well-formed safetensors file; ``problem`` says what."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name!r} is not a valid safetensors file: {problem}")
        self.problem = problem


class _Problem(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Tensor:
    """One tensor of the header; ``begin`` and ``end`` are offsets in the data region."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    elements: int
    begin: int
    end: int


@dataclass(frozen=True, slots=True)
class SafetensorsHeader:
    """What the header says; the data region starts at ``data_offset``."""

    tensors: tuple[Tensor, ...]
    metadata: Mapping[str, str]
    data_offset: int
    size: int

    @property
    def parameter_count(self) -> int:
        return sum(t.elements for t in self.tensors)

    @property
    def dtypes(self) -> dict[str, int]:
        """Elements per dtype."""
        counts: dict[str, int] = {}
        for tensor in self.tensors:
            counts[tensor.dtype] = counts.get(tensor.dtype, 0) + tensor.elements
        return counts

    @property
    def data_bytes(self) -> int:
        return self.size - self.data_offset


def _shape_text(shape: list[int]) -> str:
    """``shape`` for a message: a header may hold millions of dimensions."""
    if len(shape) <= _SHOWN_DIMS:
        return str(shape)
    shown = ", ".join(str(d) for d in shape[:_SHOWN_DIMS])
    return f"[{shown}, … ({len(shape)} dimensions)]"


def _tensor(name: str, entry: object) -> Tensor:
    if not isinstance(entry, dict):
        raise _Problem(f"tensor {name!r} is not an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
        raise _Problem(f"tensor {name!r} has unknown dtype {dtype!r}")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise _Problem(f"tensor {name!r} has shape {shape!r}, not a list of sizes")
    if not (
        isinstance(offsets, list)
        and len(offsets) == 2
        and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
        and 0 <= offsets[0] <= offsets[1]
    ):
        raise _Problem(f"tensor {name!r} has data_offsets {offsets!r}, not [begin, end]")
    elements = 1
    for dim in shape:
        # The library multiplies in usize and refuses an overflow; an unbounded product of a
        # crafted shape of many huge sizes grows without end (quadratic time, then a float
        # overflow in the message below).
        elements *= dim
        if elements > _MAX_ELEMENTS:
            raise _Problem(
                f"tensor {name!r} has shape {_shape_text(shape)}: more than 2^64 elements"
            )
    bits = elements * DTYPE_BITS[dtype]
    begin, end = offsets
    if bits % 8 or bits // 8 != end - begin:
        raise _Problem(
            f"tensor {name!r} ({dtype}, shape {_shape_text(shape)}) needs {bits / 8:g} bytes, "
            f"its data_offsets span {end - begin}"
        )
    return Tensor(name, dtype, tuple(shape), elements, begin, end)


def _parse(data: bytes, size: int, data_offset: int) -> SafetensorsHeader:
    try:
        header = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise _Problem(f"its header is not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise _Problem("its header is not a JSON object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise _Problem("__metadata__ is not a map of strings")
    tensors = [_tensor(name, entry) for name, entry in header.items()]
    region = size - data_offset
    position = 0
    for tensor in sorted(tensors, key=lambda t: (t.begin, t.end)):
        if tensor.begin != position:
            what = "overlaps the tensor before it" if tensor.begin < position else "leaves a gap"
            raise _Problem(f"tensor {tensor.name!r} at data offset {tensor.begin} {what}")
        position = tensor.end
    if position != region:
        raise _Problem(
            f"the tensors cover {position} bytes of data, the file holds {region} after the header"
        )
    return SafetensorsHeader(tuple(tensors), metadata, data_offset, size)


def read_safetensors(path: Path, *, name: str | None = None) -> SafetensorsHeader:
    """Read and check the header of the safetensors file at ``path`` (``name`` in errors, its
    file name by default). Raises :class:`MalformedSafetensors` naming the problem."""
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(0)
            prefix = f.read(8)
            if len(prefix) < 8:
                raise _Problem(f"{size} bytes, shorter than the 8-byte header length")
            length = int.from_bytes(prefix, "little")
            if length > MAX_HEADER_BYTES:
                raise _Problem(f"its header claims {length} bytes (limit {MAX_HEADER_BYTES})")
            if 8 + length > size:
                raise _Problem(f"its header claims {length} bytes, the file has {size - 8} left")
            data = f.read(length)
        return _parse(data, size, 8 + length)
    except _Problem as problem:
        raise MalformedSafetensors(name or path.name, str(problem)) from None
