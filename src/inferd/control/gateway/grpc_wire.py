"""The model a gRPC request names, read and renamed without decoding the request.

Every request of ``inference.GRPCInferenceService`` that names a model carries the name as field
1 and the version as field 2 (``ModelInferRequest``, ``ModelMetadataRequest``,
``ModelReadyRequest``, ``ModelStatisticsRequest``). The gateway needs the name to route, and must
hand the replica the replica's own model name and no version (as REST rewrites the path), but it
has no reason to decode tensors. So it walks the message's top-level fields only (a few per
input; nested messages and tensor bytes are skipped over, never read) and, when the name must
change, appends the new name and an empty version after the client's bytes: a protobuf parser
takes the last value of a singular field, so the replica reads the appended ones, and every other
byte it receives is the client's. A request whose name needs no change is forwarded as the very
bytes that arrived.
"""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.message import DecodeError

from inferd.errors import InvalidArgument
from inferd.protocols._generated import inference_pb2 as pb

#: Field 1 (the model's name) and field 2 (its version), both length-delimited.
_NAME_TAG = 0x0A
_VERSION_TAG = 0x12
#: Field 2 set to the empty string: the replica picks its one version.
_NO_VERSION = bytes((_VERSION_TAG, 0))
_INVALID = "the request is not a valid protobuf message"


def _varint(data: bytes, i: int) -> tuple[int, int]:
    """The varint at ``data[i]`` and the index after it."""
    value = shift = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i
        shift += 7
        if shift > 63:
            raise InvalidArgument(_INVALID)


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def model_named(message: bytes) -> tuple[str, str]:
    """The model name and version ``message`` names (``""`` where unset); raises
    :class:`InvalidArgument` when it is not a protobuf message."""
    name = version = (0, 0)
    i, end = 0, len(message)
    try:
        while i < end:
            tag = message[i]
            i += 1
            if tag >= 0x80:  # single-byte tags (fields 1-15) are the fast path
                tag, i = _varint(message, i - 1)
            if tag < 8:  # field number 0 does not exist
                raise InvalidArgument(_INVALID)
            wire_type = tag & 7
            if wire_type == 2:
                length = message[i]
                i += 1
                if length >= 0x80:
                    length, i = _varint(message, i - 1)
                if tag == _NAME_TAG:
                    name = (i, length)
                elif tag == _VERSION_TAG:
                    version = (i, length)
                i += length
            elif wire_type == 0:
                while message[i] >= 0x80:
                    i += 1
                i += 1
            elif wire_type == 1:
                i += 8
            elif wire_type == 5:
                i += 4
            else:  # groups (3, 4) are not proto3; 6 and 7 do not exist
                raise InvalidArgument(_INVALID)
    except IndexError:
        raise InvalidArgument(_INVALID) from None
    if i != end:  # the last field runs past the end
        raise InvalidArgument(_INVALID)
    return _text(message, name, "model_name"), _text(message, version, "model_version")


def _text(message: bytes, span: tuple[int, int], field: str) -> str:
    start, length = span
    try:
        return message[start : start + length].decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgument(f"{field} is not valid UTF-8") from None


def renamed(message: bytes, model: str, named: tuple[str, str]) -> bytes:
    """``message`` (which names ``named``, as :func:`model_named` read it) naming ``model`` and
    no version: the same bytes when it already does, else the same bytes with the new name and
    an empty version appended."""
    name, version = named
    if name == model and not version:
        return message
    encoded = model.encode("utf-8")
    return b"".join((message, bytes((_NAME_TAG,)), _encode_varint(len(encoded)), encoded,
                     _NO_VERSION if version else b""))  # fmt: skip


def answer_named(response: bytes, model: str, versions: Sequence[str]) -> bytes:
    """A replica's ``ModelMetadataResponse`` naming ``model`` and listing ``versions`` (those
    of the deployment a client may name) in place of the replica's name and store tag. Decoded,
    unlike requests: it holds no tensors, and a repeated field cannot be replaced by appending."""
    try:
        message = pb.ModelMetadataResponse.FromString(response)
    except DecodeError:
        return response
    message.name = model
    del message.versions[:]
    message.versions.extend(versions)
    return message.SerializeToString()
