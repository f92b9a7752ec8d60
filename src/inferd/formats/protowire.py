"""A streaming reader of the protobuf wire format, for files too large to hold in memory.

Only what inferd needs to look inside protobuf files (ONNX, sentencepiece) without the ``onnx``
package: walk the fields of a message region by region, descend into the sub-messages of
interest, and skip everything else with ``seek`` so a multi-gigabyte initializer costs no memory
and no reading.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

VARINT = 0
I64 = 1
LEN = 2
I32 = 5

#: The longest string field we read into memory (names, dim params, external-data keys).
MAX_STRING_BYTES = 64 * 1024


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


@dataclass(frozen=True, slots=True)
class Field:
    """One field: for VARINT ``value`` is the number; for LEN it is the payload's length and
    ``start`` its offset in the file; fixed-width fields carry no value (``value`` = 0)."""

    number: int
    wire_type: int
    value: int
    start: int


def read_varint(f: BinaryIO) -> int:
    """Read one base-128 varint (at most 10 bytes) from the current position."""
    result = 0
    for shift in range(0, 70, 7):
        byte = f.read(1)
        if not byte:
            raise WireError("truncated varint")
        result |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return result
    raise WireError("varint longer than 10 bytes")


def as_int64(value: int) -> int:
    """Reinterpret a decoded varint as a two's-complement int64 (negative dims, enums)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def fields(f: BinaryIO, end: int) -> Iterator[Field]:
    """Yield the fields of the message occupying ``[f.tell(), end)``.

    After each field is yielded the reader seeks past it, so the consumer may read or descend
    into a LEN payload, or ignore it, and iteration continues correctly either way.
    """
    pos = f.tell()
    while pos < end:
        key = read_varint(f)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        if wire_type == VARINT:
            value = read_varint(f)
            start = pos = f.tell()
        elif wire_type == LEN:
            value = read_varint(f)
            start = f.tell()
            pos = start + value
        elif wire_type in (I64, I32):
            value = 0
            start = pos = f.tell() + (8 if wire_type == I64 else 4)
        else:
            raise WireError(f"unsupported wire type {wire_type} in field {number}")
        if pos > end:
            raise WireError(f"field {number} runs past the end of its message")
        yield Field(number, wire_type, value, start)
        # The consumer may have read or descended into the payload: resume after it.
        f.seek(pos)
    if pos != end:
        raise WireError("message overruns its declared length")


def read_string(f: BinaryIO, field: Field) -> str:
    """The UTF-8 payload of a LEN field (bounded by :data:`MAX_STRING_BYTES`)."""
    if field.wire_type != LEN or field.value > MAX_STRING_BYTES:
        raise WireError(f"field {field.number} is not a string of reasonable size")
    f.seek(field.start)
    data = f.read(field.value)
    if len(data) != field.value:
        raise WireError("truncated string")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise WireError(f"field {field.number} is not valid UTF-8") from None


def submessage(f: BinaryIO, field: Field) -> Iterator[Field]:
    """The fields of the sub-message carried by a LEN field."""
    if field.wire_type != LEN:
        raise WireError(f"field {field.number} should be a message")
    f.seek(field.start)
    return fields(f, field.start + field.value)
