"""The single-file data formats the store admits, each recognised from the file's own structure.

A recogniser answers for one format: the format's name when the file is in it and loading it
runs no code, a :class:`Refusal` when the file is in it but loading it would need pickle (a NumPy
array of objects), or None when the file is not in that format at all. Every test is structural,
not a sniff of a prefix: safetensors' header must describe the data region exactly, a ``.npy``
file must be exactly its header plus its array, a protobuf must parse to its last byte, and
text must decode as UTF-8 from start to end.
"""

from __future__ import annotations

import codecs
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from inferd.formats.native import is_xgboost
from inferd.formats.onnx import is_onnx
from inferd.formats.protowire import I32, LEN, VARINT, WireError, fields, submessage
from inferd.formats.safetensors import MalformedSafetensors, read_safetensors


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a file is not admitted: ``format`` names it (the card lists the formats a pusher
    trusted), ``reason`` completes the sentence "'<file>' is …". ``runs_code``: loading it
    unpickles (not merely a format the store does not know)."""

    format: str
    reason: str
    runs_code: bool = False


Verdict = str | Refusal | None
"""A format name (admitted), a :class:`Refusal`, or None (not this format)."""

Recogniser = Callable[[Path, int], Verdict]
"""``recognise(path, size)``."""

_CHUNK = 1 << 20
_MAX_NPY_HEADER = 1 << 16
_GGUF_VERSIONS = frozenset({1, 2, 3})
# sentencepiece ModelProto: pieces (1), trainer (2), normalizer (3), self-test (4), denormalizer (5)
_SENTENCEPIECE_FIELDS = frozenset({1, 2, 3, 4, 5})
# ModelProto.SentencePiece: piece (1, string), score (2, float), type (3, enum)
_PIECE_FIELDS = {1: LEN, 2: I32, 3: VARINT}


def gguf(path: Path, size: int) -> Verdict:
    """GGUF (llama.cpp): the magic ``GGUF`` and a known version."""
    with path.open("rb") as f:
        head = f.read(8)
    version = int.from_bytes(head[4:], "little")
    return "GGUF" if head[:4] == b"GGUF" and version in _GGUF_VERSIONS else None


def npy(path: Path, size: int) -> Verdict:
    """A NumPy ``.npy`` array as ``np.load(allow_pickle=False)`` reads it: no object dtype."""
    import numpy as np  # deferred: the store's commands (ls, inspect, tag…) never reach here

    with path.open("rb") as f:
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                header = np.lib.format.read_array_header_1_0(f, max_header_size=_MAX_NPY_HEADER)
            elif version == (2, 0):
                header = np.lib.format.read_array_header_2_0(f, max_header_size=_MAX_NPY_HEADER)
            else:
                return None
        except (ValueError, TypeError, SyntaxError, OverflowError, MemoryError):
            return None
        shape, _fortran, dtype = header
        if dtype.hasobject:
            return Refusal(
                "object-dtype .npy",
                f"a NumPy array of dtype {dtype}, which holds Python objects and loads only "
                "through pickle",
                runs_code=True,
            )
        if f.tell() + math.prod(shape) * dtype.itemsize != size:
            return None  # not exactly a header and its array: something else rides along
    return "NumPy .npy"


def safetensors(path: Path, size: int) -> Verdict:
    """safetensors: an 8-byte header length, a JSON header, and exactly the data it describes
    (:mod:`inferd.formats.safetensors`)."""
    try:
        read_safetensors(path)
    except MalformedSafetensors:
        return None
    return "safetensors"


def onnx(path: Path, size: int) -> Verdict:
    """ONNX: a protobuf ModelProto, parsed to its last byte (:mod:`inferd.formats.onnx`)."""
    return "ONNX" if is_onnx(path) else None


def sentencepiece(path: Path, size: int) -> Verdict:
    """A sentencepiece ``.model``: a protobuf ModelProto whose first piece is well formed."""
    try:
        with path.open("rb") as f:
            top = list(fields(f, size))
            if not top or any(x.number not in _SENTENCEPIECE_FIELDS for x in top):
                return None
            if any(x.wire_type != LEN for x in top) or top[0].number != 1:
                return None
            for part in submessage(f, top[0]):
                if _PIECE_FIELDS.get(part.number) != part.wire_type:
                    return None
    except WireError:
        return None
    return "sentencepiece model"


def xgboost(path: Path, size: int) -> Verdict:
    """XGBoost's native model (UBJSON; its JSON form is also text)."""
    return "XGBoost model" if is_xgboost(path) else None


def text(path: Path, size: int) -> Verdict:
    """UTF-8 text without NUL, start to end: JSON, YAML, tokenizer, vocabulary, LightGBM models."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as f:
        try:
            while chunk := f.read(_CHUNK):
                if b"\x00" in chunk:
                    return None
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return None
    return "text"
