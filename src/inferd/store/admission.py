"""What the store admits: files it recognises as data. Anything else is refused unless trusted.

Admission, not detection: a file is stored only when its whole structure is a format whose
loader runs no code. Recognising code-running formats one by one fails open (a pickle without
PROTO, with trailing bytes, behind a long literal, inside a zip or an object ``.npy``); admitting
known data formats fails closed. For each pushed file, and each member of a zip inside it:

1. the pickle walk (:mod:`.pickles`) runs over the whole file from byte 0: a file that the
   unpickler would run, or that is a whole pickle, is refused whatever else it parses as;
2. the first recogniser that claims the file decides: GGUF, NumPy ``.npy`` (no object dtype),
   zip archives member by member (:mod:`.archives`: ``.npz``, skops; a Keras archive is
   refused whole, its config names code), safetensors, ONNX,
   sentencepiece, XGBoost UBJSON, then UTF-8 text (JSON, YAML, tokenizer and vocabulary files,
   XGBoost JSON, LightGBM); raw tensor bytes that an admitted ONNX file of the same version
   names as external data are admitted with it (:func:`refusals`);
3. anything else is refused, named as precisely as the store can: a compressed pickle (joblib),
   a tar or 7z archive (not unpacked, so not admitted), HDF5 (Keras's ``.h5``), or a format the
   store does not know.

A refused file is stored only when the pusher passes ``--trust-unsafe-format``; the store
records that trust in its own history (:func:`inferd.store.trust.record`), and a pull admits a
layer only when it passes here or that history trusts its digest (:mod:`.trust`).
"""

from __future__ import annotations

import bz2
import io
import lzma
import zlib
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path, PurePosixPath

from inferd.errors import InvalidArgument
from inferd.formats.onnx import external_data_locations, is_onnx
from inferd.store import dataformats
from inferd.store.archives import scan_zip
from inferd.store.dataformats import Recogniser, Refusal
from inferd.store.pickles import pickle_verdict

#: What the store admits, for messages.
ADMITTED = (
    "ONNX, safetensors, GGUF, NumPy .npy/.npz without objects, UTF-8 text (JSON, YAML, "
    "tokenizer and vocabulary files, LightGBM), skops and other zip archives of these, XGBoost, "
    "sentencepiece"
)
_HEAD_BYTES = 64 * 1024
#: HDF5's superblock signature: at byte 0, or after a user block of 512 bytes doubled.
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def admit(path: Path) -> Refusal | None:
    """None when the file at ``path`` is admitted as data; otherwise why it is not."""
    return _admit(path, 0)


def refusals(files: Mapping[str, Path]) -> dict[str, Refusal]:
    """The files of one version (title → path) that are not admitted, by title.

    One context is needed: an ONNX model keeps large tensors as raw bytes in other files of the
    version (external data), which no format recognises alone. A file that an admitted ONNX file
    names that way is admitted as long as it does not run code (it is not a pickle).
    """
    refused = {title: r for title, path in files.items() if (r := admit(path)) is not None}
    if not refused:
        return {}
    tensors: set[str] = set()
    for title, path in files.items():
        if title not in refused and is_onnx(path):
            tensors |= _external_data(title, path)
    return {t: r for t, r in refused.items() if r.runs_code or t not in tensors}


def _external_data(title: str, path: Path) -> set[str]:
    """The titles of the external-data files the ONNX file ``title`` names (inside the version)."""
    try:
        locations = external_data_locations(path)
    except InvalidArgument:
        return set()
    base = PurePosixPath(title).parent
    named = (PurePosixPath(location) for location in locations)
    return {(base / p).as_posix() for p in named if not p.is_absolute() and ".." not in p.parts}


def _admit(path: Path, depth: int) -> Refusal | None:
    size = path.stat().st_size
    with path.open("rb") as f:
        verdict = pickle_verdict(f, size)
    if verdict is not None:
        return Refusal(
            "pickle", f"a pickle that {verdict}; loading a pickle can run any code", runs_code=True
        )
    recognisers: tuple[Recogniser, ...] = (
        dataformats.gguf,
        dataformats.npy,
        partial(scan_zip, depth=depth, admit=_admit),
        dataformats.safetensors,
        dataformats.onnx,
        dataformats.sentencepiece,
        dataformats.xgboost,
        dataformats.text,
    )
    for recognise in recognisers:
        found = recognise(path, size)
        if found is not None:
            return found if isinstance(found, Refusal) else None
    return _unknown(path)


def _zlib(data: bytes) -> bytes:
    return zlib.decompressobj().decompress(data, _HEAD_BYTES)


def _gzip(data: bytes) -> bytes:
    return zlib.decompressobj(wbits=31).decompress(data, _HEAD_BYTES)


def _bz2(data: bytes) -> bytes:
    return bz2.BZ2Decompressor().decompress(data, _HEAD_BYTES)


def _lzma(data: bytes) -> bytes:
    return lzma.LZMADecompressor().decompress(data, _HEAD_BYTES)


# Magic numbers of the compressors joblib uses, each with a bounded decompressor.
_COMPRESSED: tuple[tuple[tuple[bytes, ...], str, Callable[[bytes], bytes]], ...] = (
    ((b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda"), "zlib", _zlib),
    ((b"\x1f\x8b",), "gzip", _gzip),
    ((b"BZh",), "bz2", _bz2),
    ((b"\xfd7zXZ\x00", b"\x5d\x00\x00"), "lzma", _lzma),
)


def _compressed_pickle(head: bytes, decompress: Callable[[bytes], bytes]) -> bool:
    """Whether the decompressed start of a stream is a pickle (joblib's compressed dumps)."""
    try:
        inner = decompress(head)
    except (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError):
        return False
    if len(inner) >= 2 and inner[0] == 0x80 and 2 <= inner[1] <= 5:
        return True  # PROTO: a pickle, cut short by the bounded decompression
    return pickle_verdict(io.BytesIO(inner), len(inner)) is not None


def _unknown(path: Path) -> Refusal:
    """Name a refused file as precisely as the store can."""
    with path.open("rb") as f:
        head = f.read(_HEAD_BYTES)
    for magics, name, decompress in _COMPRESSED:
        if head.startswith(magics):
            if _compressed_pickle(head, decompress):
                return Refusal(
                    f"joblib/{name}-compressed pickle",
                    f"a {name}-compressed pickle (joblib); loading a pickle can run any code",
                    runs_code=True,
                )
            return Refusal(
                f"{name}-compressed data",
                f"{name}-compressed data, which the store does not unpack, so cannot admit",
            )
    if head[257:262] == b"ustar":
        return Refusal("tar archive", "a tar archive; only zip archives are unpacked and admitted")
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return Refusal("7z archive", "a 7z archive; only zip archives are unpacked and admitted")
    if _HDF5_SIGNATURE in (head[:8], head[512:520], head[1024:1032], head[2048:2056]):
        return Refusal(
            "HDF5 file",
            "an HDF5 file (a Keras .h5 model keeps its layers' Python config, and Lambda "
            "layers' bytecode, inside), which the store does not read, so cannot admit",
        )
    if path.suffix.lower() == ".gguf":
        return Refusal(
            "unrecognised format",
            f"named .gguf but not GGUF (it starts with {head[:8]!r}, not the magic b'GGUF' and "
            "a version), nor in any other format the store admits as data",
        )
    if path.suffix.lower() == ".onnx":
        return Refusal(
            "unrecognised format",
            "named .onnx but not an ONNX model: its bytes do not parse as one to the end "
            "(a download cut short, or a damaged file?), nor as any other format the store "
            "admits as data",
        )
    return Refusal(
        "unrecognised format",
        f"in no format the store admits as data ({ADMITTED}), so loading it may run code",
    )
