"""Zip archives (skops, ``.npz``, plain zips of data) are admitted member by member.

An archive is admitted only when every member is: each is unpacked, one at a time, into a
private temporary directory and put through the same admission as a pushed file, so a pickle
inside a zip (``torch.save``'s ``data.pkl``, an object ``.npy`` in an ``.npz``) is refused like
one on its own. Other archive formats are not unpacked and so are not admitted.

Limits (RELIABILITY R23), checked from the central directory before anything is unpacked, each
refused with a message naming it:

- at most :data:`MAX_MEMBERS` entries;
- at most :data:`MAX_UNPACKED_BYTES` in all, and at most :data:`MAX_RATIO` times the archive's
  own size once past :data:`RATIO_FREE_BYTES` (a zip bomb declares what it will inflate to);
- archives nested at most :data:`MAX_DEPTH` deep;
- no member that is a symlink, has an absolute or ``..`` name, or is encrypted.

A Keras model archive (``.keras``) is refused whole, although its members are JSON and HDF5:
its ``config.json`` names the Python classes, functions and modules Keras imports to rebuild
the model, and a ``Lambda`` layer carries marshalled Python bytecode, so loading one can run
code (``safe_mode`` has been bypassed before: CVE-2024-3660, CVE-2025-1550).

A member is never unpacked past its declared size, so the declaration bounds the work.
"""

from __future__ import annotations

import json
import lzma
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO

from inferd.errors import InvalidArgument
from inferd.store.dataformats import Refusal, Verdict
from inferd.store.safety import validate_title

MAX_MEMBERS = 10_000
MAX_UNPACKED_BYTES = 16 << 30
MAX_RATIO = 200
RATIO_FREE_BYTES = 1 << 20
MAX_DEPTH = 2

Admit = Callable[[Path, int], Refusal | None]
"""``admit(path, depth)``: the admission a member goes through (depth: archives around it)."""

_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
#: The most of a Keras archive's ``metadata.json`` read to find its ``keras_version``.
_KERAS_METADATA_BYTES = 64 * 1024
_CHUNK = 1 << 20
_UNREADABLE = (
    zipfile.BadZipFile,
    NotImplementedError,
    RuntimeError,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    OSError,
)


def _limits(members: list[zipfile.ZipInfo], size: int, depth: int) -> Refusal | None:
    unpacked = sum(member.file_size for member in members)
    problem: str | None = None
    if depth >= MAX_DEPTH:
        problem = f"nested {depth} deep in other archives (the store unpacks {MAX_DEPTH} levels)"
    elif len(members) > MAX_MEMBERS:
        problem = f"with {len(members)} entries, more than the {MAX_MEMBERS} the store unpacks"
    elif unpacked > MAX_UNPACKED_BYTES:
        problem = (
            f"that unpacks to {unpacked} bytes, more than the {MAX_UNPACKED_BYTES} the store "
            "unpacks"
        )
    elif unpacked > RATIO_FREE_BYTES and unpacked > MAX_RATIO * size:
        problem = (
            f"that unpacks to {unpacked} bytes from {size} ({unpacked // max(size, 1)}:1; the "
            f"store unpacks at most {MAX_RATIO}:1)"
        )
    if problem is None:
        return None
    return Refusal("zip archive over the unpacking limits", f"a zip archive {problem}")


def _keras(path: Path, archive: zipfile.ZipFile) -> Refusal | None:
    """A Keras archive: named ``.keras``, or holding the ``metadata.json`` Keras writes."""
    names = set(archive.namelist())
    keras = path.suffix.lower() == ".keras" or {"config.json", "model.weights.h5"} <= names
    if not keras and "metadata.json" in names:
        info = archive.getinfo("metadata.json")
        if not info.flag_bits & 0x1 and info.file_size <= _KERAS_METADATA_BYTES:
            try:
                metadata = json.loads(archive.read(info))
            except (ValueError, *_UNREADABLE):
                metadata = None
            keras = isinstance(metadata, dict) and "keras_version" in metadata
    if not keras:
        return None
    return Refusal(
        "Keras archive",
        "a Keras model archive: its config.json names the Python classes and functions Keras "
        "imports to rebuild the model, and Lambda layers carry Python bytecode, so loading it "
        "can run code",
        runs_code=True,
    )


def _member_problem(member: zipfile.ZipInfo) -> str | None:
    try:
        validate_title(member.filename.removesuffix("/"))
    except InvalidArgument:
        return "has a name that could unpack outside its folder"
    if stat.S_ISLNK(member.external_attr >> 16):
        return "is a symlink"
    if member.flag_bits & 0x1:
        return "is encrypted, so it cannot be scanned"
    return None


def _unpack(source: IO[bytes], target: Path, declared: int) -> None:
    """Copy a member to ``target``, never past its declared size."""
    with target.open("wb") as sink:
        written = 0
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > declared:
                raise zipfile.BadZipFile("more bytes than its declared size")
            sink.write(chunk)


def scan_zip(path: Path, size: int, depth: int, admit: Admit) -> Verdict:
    """A zip archive: admitted when every member is (see the module docstring)."""
    with path.open("rb") as f:
        if f.read(4) not in _ZIP_MAGICS:
            return None
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError):
        return Refusal("unreadable zip archive", "a zip archive whose directory cannot be read")
    with archive, tempfile.TemporaryDirectory(prefix="inferd-scan-") as scratch:
        members = archive.infolist()
        refusal = _limits(members, size, depth) or _keras(path, archive)
        if refusal is not None:
            return refusal
        target = Path(scratch) / "member"
        for member in members:
            problem = _member_problem(member)
            if problem is not None:
                return Refusal(
                    "zip archive with an unsafe member",
                    f"a zip archive whose member {member.filename!r} {problem}",
                )
            if member.is_dir():
                continue
            try:
                with archive.open(member) as source:
                    _unpack(source, target, member.file_size)
            except _UNREADABLE as exc:
                return Refusal(
                    "unreadable zip archive",
                    f"a zip archive whose member {member.filename!r} cannot be read ({exc})",
                )
            inner = admit(target, depth + 1)
            if inner is not None:
                return Refusal(
                    f"zip archive ({inner.format} inside)",
                    f"a zip archive whose member {member.filename!r} is {inner.reason}",
                    inner.runs_code,
                )
    return "zip archive"
