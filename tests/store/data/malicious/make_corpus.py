"""Write the malicious corpus: one harmless pickle payload in every disguise the store must refuse.

Run ``python tests/store/data/malicious/make_corpus.py`` to rewrite the committed files beside
this script; the output is byte-for-byte deterministic (fixed timestamps, owners and names, no
randomness), and ``tests/store/test_safety.py`` checks that the committed files are exactly what
this writes.

The payload, when unpickled, calls ``print(MARKER)``: visible if it ever runs, destructive never.
No test unpickles anything; they check that the marker is never printed.

Every disguise, with why it is there:

- pickles of protocols 0 to 5, as ``pickle.dumps`` writes them;
- protocol 4 without its PROTO opcode (FRAME first), and a hand-written stream whose first opcode
  is SHORT_BINUNICODE: ``pickle.load`` needs no PROTO;
- STACK_GLOBAL + REDUCE followed by 4 KiB of trailing bytes: ``pickle.load`` stops at STOP;
- a leading literal of 70,000 characters (binary and protocol-0 text) that pushes the import past
  the first 64 KiB;
- a pickle renamed ``model.onnx``, ``model.safetensors`` and ``config.json`` (protocol 0, so it is
  valid UTF-8 text too);
- inside archives: a ``torch.save``-like zip (``archive/data.pkl``), a deflated zip member named
  ``weights.bin``, a zip inside a zip, a tar, a gzip-compressed tar, joblib-style zlib/gzip/bz2/xz
  streams, and a real 7z archive (copy coder, written by hand from the 7z format: the standard
  library has no 7z writer);
- NumPy: an object-dtype ``.npy`` (what ``np.save(..., allow_pickle=True)`` writes for objects:
  the header, then a pickle) and an ``.npz`` holding one.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import pickle
import struct
import sys
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
MARKER = "INFERD-MALICIOUS-CORPUS-PAYLOAD-RAN"
_EPOCH = (1980, 1, 1, 0, 0, 0)


class _Payload:
    """Unpickling this calls ``print(MARKER)``."""

    def __reduce__(self) -> tuple[Callable[..., object], tuple[str]]:
        return (print, (MARKER,))


def _pickle(protocol: int) -> bytes:
    return pickle.dumps(_Payload(), protocol=protocol)


def _stack_global() -> bytes:
    """``print(MARKER)`` by STACK_GLOBAL, opening with SHORT_BINUNICODE (no PROTO, no FRAME)."""

    def text(value: str) -> bytes:
        data = value.encode()
        return b"\x8c" + bytes([len(data)]) + data

    return text("builtins") + text("print") + b"\x93" + text(MARKER) + b"\x85R."


def _long_literal() -> bytes:
    """A 70,000-character BINUNICODE literal, popped, then the payload."""
    literal = b"A" * 70_000
    return b"X" + struct.pack("<I", len(literal)) + literal + b"0" + _stack_global()


def _long_literal_text() -> bytes:
    """Protocol 0: a 70,000-character STRING literal on one line, popped, then the payload."""
    return b"S'" + b"A" * 70_000 + b"'\n0" + _pickle(0)


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = method
            info.create_system = 3
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def _tar(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(data), 0, 0o644
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _gzip(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, filename="") as stream:
        stream.write(data)
    return buffer.getvalue()


def _number(value: int) -> bytes:
    """7z's variable-length NUMBER (values below 2**21 are all this corpus needs)."""
    if value < 0x80:
        return bytes([value])
    if value < 0x4000:
        return bytes([0x80 | value >> 8, value & 0xFF])
    return bytes([0xC0 | value >> 16]) + struct.pack("<H", value & 0xFFFF)


def _seven_zip(name: str, data: bytes) -> bytes:
    """A 7z archive of one file, stored with the Copy coder (method id 00)."""
    encoded = name.encode("utf-16-le") + b"\x00\x00"
    header = b"".join(
        [
            b"\x01\x04",  # Header, MainStreamsInfo
            b"\x06" + _number(0) + _number(1) + b"\x09" + _number(len(data)) + b"\x00",
            b"\x07\x0b" + _number(1) + b"\x00" + _number(1) + b"\x01\x00",  # one Copy coder
            b"\x0c" + _number(len(data)) + b"\x00",
            b"\x08\x0a\x01" + struct.pack("<I", zlib.crc32(data)) + b"\x00",  # CRC, then End
            b"\x00",  # End of MainStreamsInfo
            b"\x05" + _number(1) + b"\x11" + _number(len(encoded) + 1) + b"\x00" + encoded,
            b"\x00\x00",  # End of FilesInfo, End of Header
        ]
    )
    tail = struct.pack("<QQI", len(data), len(header), zlib.crc32(header))
    start = b"7z\xbc\xaf\x27\x1c\x00\x04" + struct.pack("<I", zlib.crc32(tail)) + tail
    return start + data + header


def _object_npy() -> bytes:
    """An object-dtype ``.npy`` as ``np.save(allow_pickle=True)`` lays it out: header, pickle."""
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    padding = 64 - (10 + len(header) + 1) % 64
    line = (header + " " * padding + "\n").encode("latin-1")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(line)) + line + _pickle(3)


def corpus() -> dict[str, bytes]:
    """File name → bytes of every disguise."""
    files = {f"pickle-protocol-{p}.pkl": _pickle(p) for p in range(6)}
    files.update(
        {
            "no-proto-frame-first.bin": _pickle(4)[2:],
            "no-proto-short-binunicode-first.bin": _stack_global(),
            "stack-global-trailing-bytes.bin": _stack_global() + bytes(range(256)) * 16,
            "long-leading-literal.bin": _long_literal(),
            "long-leading-literal-protocol0.yaml": _long_literal_text(),
            "model.onnx": _pickle(2),
            "model.safetensors": _pickle(4),
            "config.json": _pickle(0),
            "torch-like.pt": _zip({"archive/data.pkl": _pickle(2), "archive/version": b"3\n"}),
            "weights-in-zip.zip": _zip({"weights.bin": _pickle(4)}, zipfile.ZIP_DEFLATED),
            "zip-in-zip.zip": _zip({"inner.zip": _zip({"model.json": _pickle(0)})}),
            "model.tar": _tar("model.pkl", _pickle(4)),
            "model.tar.gz": _gzip(_tar("model.pkl", _pickle(4))),
            "model.7z": _seven_zip("model.pkl", _pickle(4)),
            "joblib-zlib.joblib": zlib.compress(_pickle(4)),
            "joblib-gzip.joblib": _gzip(_pickle(4)),
            "joblib-bz2.joblib": bz2.compress(_pickle(4)),
            "joblib-xz.joblib": lzma.compress(_pickle(4)),
            "object-array.npy": _object_npy(),
            "object-array.npz": _zip({"features.npy": _object_npy()}, zipfile.ZIP_DEFLATED),
        }
    )
    return files


def write(directory: Path) -> list[Path]:
    """Write the corpus into ``directory``; return the paths written."""
    written = []
    for name, data in sorted(corpus().items()):
        path = directory / name
        path.write_bytes(data)
        written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    for path in write(target):
        print(path.name)
