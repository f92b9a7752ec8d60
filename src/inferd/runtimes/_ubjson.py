"""A reader of Universal Binary JSON (https://ubjson.org), as XGBoost writes its ``.ubj`` models.

Only what is needed to check a model's trees before XGBoost reads them
(:mod:`inferd.runtimes._xgboost_trees`): values become Python's JSON types; a typed array of
numbers (``[$l#L…``, XGBoost's node arrays) becomes a list read with numpy in one step. A file
that breaks the format raises :class:`UbjsonError`.
"""

from __future__ import annotations

import numpy as np

#: Number markers: their big-endian numpy dtype.
_NUMBERS = {
    b"i": ">i1",
    b"U": ">u1",
    b"I": ">i2",
    b"l": ">i4",
    b"L": ">i8",
    b"d": ">f4",
    b"D": ">f8",
}
_CONSTANTS: dict[bytes, object] = {b"Z": None, b"T": True, b"F": False}
#: The deepest nesting read (XGBoost's models nest a few levels).
MAX_DEPTH = 64


class UbjsonError(ValueError):
    """The bytes are not UBJSON (a message naming the offset)."""


def loads(data: bytes) -> object:
    """The value ``data`` holds, which must be all of it."""
    reader = _Reader(data)
    value = reader.value(reader.marker(), 0)
    if reader.at != len(data):
        raise UbjsonError(f"{len(data) - reader.at} bytes follow the value at offset {reader.at}")
    return value


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, size: int) -> bytes:
        if size < 0 or self.at + size > len(self.data):
            raise UbjsonError(f"the data ends before offset {self.at + size}")
        chunk = self.data[self.at : self.at + size]
        self.at += size
        return chunk

    def marker(self) -> bytes:
        marker = self.take(1)
        while marker == b"N":  # no-op
            marker = self.take(1)
        return marker

    def value(self, marker: bytes, depth: int) -> object:
        if marker in _CONSTANTS:
            return _CONSTANTS[marker]
        if marker in _NUMBERS:
            return self.number(marker)
        if marker == b"C":
            return self.take(1).decode("latin-1")
        if marker in (b"S", b"H"):
            return self.string()
        if depth >= MAX_DEPTH:
            raise UbjsonError(f"values nest deeper than {MAX_DEPTH} at offset {self.at}")
        if marker == b"[":
            return self.array(depth + 1)
        if marker == b"{":
            return self.object(depth + 1)
        raise UbjsonError(f"unknown marker {marker!r} at offset {self.at - 1}")

    def number(self, marker: bytes) -> int | float:
        dtype = np.dtype(_NUMBERS[marker])
        value = np.frombuffer(self.take(dtype.itemsize), dtype)[0]
        return float(value) if dtype.kind == "f" else int(value)

    def length(self) -> int:
        marker = self.marker()
        if marker not in _NUMBERS or marker in (b"d", b"D"):
            raise UbjsonError(f"a length must be an integer, not {marker!r} at offset {self.at}")
        size = self.number(marker)
        assert isinstance(size, int)
        if size < 0:
            raise UbjsonError(f"a negative length {size} at offset {self.at}")
        return size

    def string(self) -> str:
        try:
            return self.take(self.length()).decode()
        except UnicodeDecodeError:
            raise UbjsonError(f"a string that is not UTF-8 before offset {self.at}") from None

    def header(self) -> tuple[bytes | None, int | None]:
        """The optional ``$type`` and ``#count`` of a container."""
        kind: bytes | None = None
        if self.data[self.at : self.at + 1] == b"$":
            self.at += 1
            kind = self.take(1)
            if self.data[self.at : self.at + 1] != b"#":
                raise UbjsonError(f"a typed container without a count at offset {self.at}")
        if self.data[self.at : self.at + 1] == b"#":
            self.at += 1
            return kind, self.length()
        return kind, None

    def array(self, depth: int) -> list[object]:
        kind, count = self.header()
        if kind is not None and count is not None and kind in _NUMBERS:
            dtype = np.dtype(_NUMBERS[kind])
            values: list[object] = np.frombuffer(self.take(count * dtype.itemsize), dtype).tolist()
            return values
        items: list[object] = []
        while count is None or len(items) < count:
            marker = kind if kind is not None else self.marker()
            if count is None and marker == b"]":
                return items
            items.append(self.value(marker, depth))
        return items

    def object(self, depth: int) -> dict[str, object]:
        kind, count = self.header()
        members: dict[str, object] = {}
        read = 0
        while count is None or read < count:
            if count is None and self.data[self.at : self.at + 1] == b"}":
                self.at += 1
                return members
            key = self.string()
            members[key] = self.value(kind if kind is not None else self.marker(), depth)
            read += 1
        return members
