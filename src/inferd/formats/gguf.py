"""Read a GGUF file's header, metadata and tensor infos, never its tensor data.

GGUF (llama.cpp's format, versions 2 and 3) is a header, typed key-value metadata, a table of
tensor infos (name, dimensions, ggml type, offset), padding to ``general.alignment``, then the
tensor data. :func:`read_gguf` walks everything before the data with bounded reads and skips
array elements with ``seek``, so a vocabulary of 150,000 tokens costs a walk and a
multi-gigabyte file costs no more memory than a small one.

Everything a crafted or damaged file could abuse is checked before it is trusted: a count or a
length is compared with the bytes left in the file before anything is read or allocated; every
tensor's data must lie inside the file, at an aligned offset, without overlapping another; and
the rules llama.cpp's own loader enforces (at most 4 dimensions, tensor names under 64 bytes,
no nested arrays, no duplicate keys or tensor names, rows whole blocks of the tensor type) are
enforced here, so a file this reader accepts is not refused later for its structure. Each
refusal is :class:`MalformedGguf` naming the problem and where it is.

Big-endian files (version 3 allows them) are read as such. Version 1 (mid-2023, 32-bit counts)
is refused with a message saying so.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO, Literal

from inferd.errors import InvalidArgument
from inferd.formats.gguf_file import (
    GGML_TYPES,
    SCALAR_CODES,
    GgufArray,
    GgufFile,
    TensorInfo,
    Value,
    ValueType,
)

MAGIC = b"GGUF"
VERSIONS = frozenset({2, 3})
DEFAULT_ALIGNMENT = 32
#: llama.cpp's GGML_MAX_DIMS and GGML_MAX_NAME (names are shorter than this, NUL excluded).
MAX_DIMS = 4
MAX_TENSOR_NAME_BYTES = 64
#: Sanity bounds far above any real model, so a corrupt count is refused before any loop.
MAX_TENSORS = 1 << 20
MAX_METADATA_ENTRIES = 1 << 16
#: Keys are at most 65,535 bytes by the specification; other strings (chat templates, token
#: texts) are held to 16 MiB each.
MAX_KEY_BYTES = 65_535
MAX_STRING_BYTES = 16 << 20
_INT64_MAX = (1 << 63) - 1


class MalformedGguf(InvalidArgument):
    """A file that is not a GGUF file this reader accepts; ``problem`` says what and where."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name!r} is not a valid GGUF file: {problem}")
        self.problem = problem


class _Problem(Exception):
    """Raised while parsing; :func:`read_gguf` names the file."""


class _Reader:
    """Bounded reads: nothing is read or skipped past the end of the file."""

    def __init__(self, f: BinaryIO, size: int, order: str) -> None:
        self.f = f
        self.size = size
        self.order = order
        self.pos = f.tell()

    @property
    def left(self) -> int:
        return self.size - self.pos

    def read(self, n: int, what: str) -> bytes:
        self._check(n, what)
        data = self.f.read(n)
        if len(data) != n:
            raise _Problem(f"truncated: the file ends inside {what} (byte {self.pos})")
        self.pos += n
        return data

    def skip(self, n: int, what: str) -> None:
        self._check(n, what)
        self.pos += n
        self.f.seek(self.pos)

    def _check(self, n: int, what: str) -> None:
        if n > self.left:
            raise _Problem(
                f"truncated: {what} at byte {self.pos} needs {n} bytes, "
                f"the file has {self.left} left ({self.size} bytes in all)"
            )

    def unpack(self, code: str, what: str) -> int | float:
        fmt = self.order + code
        value: int | float = struct.unpack(fmt, self.read(struct.calcsize(fmt), what))[0]
        return value

    def u32(self, what: str) -> int:
        return int(self.unpack("I", what))

    def u64(self, what: str) -> int:
        return int(self.unpack("Q", what))

    def string_length(self, what: str, limit: int) -> int:
        length = self.u64(f"the length of {what}")
        if length > limit:
            raise _Problem(f"{what} at byte {self.pos - 8} claims {length} bytes (limit {limit})")
        if length > self.left:
            raise _Problem(
                f"truncated: {what} at byte {self.pos} claims {length} bytes, "
                f"the file has {self.left} left"
            )
        return length

    def string(self, what: str, limit: int) -> str:
        data = self.read(self.string_length(what, limit), what)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise _Problem(f"{what} at byte {self.pos - len(data)} is not UTF-8") from None


def _byte_order(head: bytes) -> tuple[str, int]:
    """The struct byte-order prefix and the version, from the first 8 bytes."""
    if len(head) < 8:
        raise _Problem(f"truncated: {len(head)} bytes, shorter than the 8-byte header start")
    if head[:4] != MAGIC:
        raise _Problem(f"it starts with {head[:4]!r}, not the magic {MAGIC!r}")
    little = int.from_bytes(head[4:8], "little")
    big = int.from_bytes(head[4:8], "big")
    if little in VERSIONS:
        return "<", little
    if big in VERSIONS:
        return ">", big
    if little == 1:
        raise _Problem("version 1 (the 2023 draft with 32-bit counts) is not supported; 2 or 3 is")
    raise _Problem(f"unknown version {little} (this reader knows 2 and 3)")


def _value(r: _Reader, kind: ValueType, key: str) -> Value:
    if kind == ValueType.STRING:
        return r.string(f"the value of {key!r}", MAX_STRING_BYTES)
    if kind == ValueType.ARRAY:
        return _array(r, key)
    value = r.unpack(SCALAR_CODES[kind], f"the value of {key!r}")
    if kind == ValueType.BOOL:
        if value not in (0, 1):
            raise _Problem(f"the bool {key!r} holds {value}, not 0 or 1")
        return bool(value)
    return value


def _value_type(number: int, where: str) -> ValueType:
    try:
        return ValueType(number)
    except ValueError:
        raise _Problem(f"{where} has unknown value type {number}") from None


def _array(r: _Reader, key: str) -> GgufArray:
    item = _value_type(r.u32(f"the element type of {key!r}"), f"array {key!r}")
    if item == ValueType.ARRAY:
        raise _Problem(f"array {key!r} holds arrays; nested arrays are not supported (llama.cpp)")
    length = r.u64(f"the length of array {key!r}")
    smallest = 8 if item == ValueType.STRING else struct.calcsize(SCALAR_CODES[item])
    if length > r.left // smallest:
        raise _Problem(
            f"array {key!r} claims {length} elements, more than the {r.left} bytes left can "
            "hold (truncated, or a corrupt count)"
        )
    if item == ValueType.STRING:
        for index in range(length):
            what = f"string {index} of {key!r}"
            r.skip(r.string_length(what, MAX_STRING_BYTES), what)
    else:
        r.skip(length * smallest, f"the elements of array {key!r}")
    return GgufArray(item, length)


def _metadata(r: _Reader, count: int) -> dict[str, Value]:
    metadata: dict[str, Value] = {}
    for index in range(count):
        key = r.string(f"the key of metadata entry {index}", MAX_KEY_BYTES)
        if not key:
            raise _Problem(f"metadata entry {index} has an empty key")
        if key in metadata:
            raise _Problem(f"metadata key {key!r} appears twice")
        kind = _value_type(r.u32(f"the value type of {key!r}"), f"metadata {key!r}")
        metadata[key] = _value(r, kind, key)
    return metadata


def _alignment(metadata: Mapping[str, Value]) -> int:
    value = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise _Problem(f"general.alignment is {value!r}, not a positive integer")
    if value & (value - 1):
        raise _Problem(f"general.alignment is {value}, not a power of two")
    return value


def _tensor_info(r: _Reader, index: int) -> tuple[str, tuple[int, ...], int, int]:
    """(name, shape, ggml type, relative offset) of tensor info ``index``."""
    name = r.string(f"the name of tensor {index}", MAX_TENSOR_NAME_BYTES - 1)
    dims = r.u32(f"the dimension count of tensor {name!r}")
    if dims > MAX_DIMS:
        raise _Problem(f"tensor {name!r} has {dims} dimensions (at most {MAX_DIMS})")
    shape = tuple(r.u64(f"dimension {d} of tensor {name!r}") for d in range(dims))
    kind = r.u32(f"the type of tensor {name!r}")
    offset = r.u64(f"the offset of tensor {name!r}")
    return name, shape, kind, offset


def _describe(name: str, shape: tuple[int, ...], kind: int, offset: int) -> TensorInfo:
    """Element count and byte size; offset still relative to the data section."""
    known = GGML_TYPES.get(kind)
    if known is None:
        raise _Problem(f"tensor {name!r} has unknown ggml type {kind}")
    type_name, block, block_bytes = known
    elements = 1
    for index, dim in enumerate(shape):
        # llama.cpp reads each dimension as an int64: one past it after a zero is refused there.
        if dim > _INT64_MAX:
            raise _Problem(f"tensor {name!r} dimension {index} is {dim}, more than int64 holds")
        elements *= dim
        if elements > _INT64_MAX:
            raise _Problem(f"tensor {name!r} has {list(shape)} elements, more than int64 holds")
    row = shape[0] if shape else 1  # llama.cpp: a dimension not given is 1
    if row % block:
        raise _Problem(
            f"tensor {name!r} ({type_name}) has rows of {row} elements, not whole blocks of {block}"
        )
    return TensorInfo(name, shape, type_name, elements, offset, elements // block * block_bytes)


def _place(tensors: list[TensorInfo], data_offset: int, alignment: int, size: int) -> None:
    """Every tensor's data aligned, inside the file, and apart from the others."""
    previous: TensorInfo | None = None
    for tensor in sorted(tensors, key=lambda t: t.offset):
        if tensor.offset % alignment:
            raise _Problem(
                f"tensor {tensor.name!r} data offset {tensor.offset} is misaligned (not a "
                f"multiple of general.alignment {alignment})"
            )
        end = data_offset + tensor.offset + tensor.nbytes
        if end > size:
            raise _Problem(
                f"tensor {tensor.name!r} ({tensor.type_name}, {tensor.nbytes} bytes at data "
                f"offset {tensor.offset}) ends at byte {end}, beyond the end of the file "
                f"({size} bytes)"
            )
        if previous is not None and tensor.offset < previous.offset + previous.nbytes:
            raise _Problem(f"tensor {tensor.name!r} overlaps tensor {previous.name!r}")
        previous = tensor


def _parse(f: BinaryIO, size: int) -> GgufFile:
    order, version = _byte_order(f.read(8))
    r = _Reader(f, size, order)
    tensor_count = r.u64("the tensor count")
    kv_count = r.u64("the metadata count")
    # A tensor info takes at least 24 bytes, a metadata entry at least 13.
    if tensor_count > min(MAX_TENSORS, r.left // 24):
        raise _Problem(
            f"it claims {tensor_count} tensors, more than the {r.left} bytes left can describe "
            "(truncated, or a corrupt count)"
        )
    if kv_count > min(MAX_METADATA_ENTRIES, r.left // 13):
        raise _Problem(
            f"it claims {kv_count} metadata entries, more than the {r.left} bytes left can hold "
            "(truncated, or a corrupt count)"
        )
    metadata = _metadata(r, kv_count)
    alignment = _alignment(metadata)
    infos = [_tensor_info(r, index) for index in range(tensor_count)]
    names = [name for name, _, _, _ in infos]
    if len(set(names)) != len(names):
        twice = next(name for name in names if names.count(name) > 1)
        raise _Problem(f"tensor name {twice!r} appears twice")
    relative = [_describe(*info) for info in infos]
    data_offset = -(-r.pos // alignment) * alignment
    _place(relative, data_offset, alignment, size)
    tensors = tuple(
        TensorInfo(t.name, t.shape, t.type_name, t.elements, data_offset + t.offset, t.nbytes)
        for t in relative
    )
    byte_order: Literal["little", "big"] = "little" if order == "<" else "big"
    return GgufFile(version, byte_order, metadata, tensors, alignment, data_offset, size)


def read_gguf(path: Path, *, name: str | None = None) -> GgufFile:
    """Read and check the GGUF file at ``path`` (called ``name`` in errors, its file name by
    default). Raises :class:`MalformedGguf` naming the problem."""
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(0)
            return _parse(f, size)
    except _Problem as problem:
        raise MalformedGguf(name or path.name, str(problem)) from None


def is_gguf(path: Path) -> bool:
    """Whether the file opens with the GGUF magic and a version this reader knows (a cheap
    test; :func:`read_gguf` checks the rest)."""
    try:
        with path.open("rb") as f:
            _byte_order(f.read(8))
    except (_Problem, OSError):
        return False
    return True
