"""What the store refuses: code-executing file formats and file titles that escape a directory.

Formats are recognised by CONTENT, never by extension: a pickle renamed ``model.onnx`` is still a
pickle. Nothing here unpickles or imports anything; detection only reads opcodes, magic numbers
and zip member names from a bounded prefix of each file.

Recognised as unsafe (all can run arbitrary code when loaded):

- raw pickles, protocols 0 to 5 (``.pkl``, plain ``joblib.dump``, ``torch.save`` legacy format);
- zip archives holding a pickle (``torch.save``'s ``archive/data.pkl``, or any member whose
  bytes are a pickle);
- joblib's compressed pickles (zlib, gzip, bz2, lzma/xz).
"""

from __future__ import annotations

import bz2
import io
import lzma
import pickletools
import re
import warnings
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from inferd.errors import InvalidArgument

#: How much of a file (or of a decompressed stream) the detector looks at.
SCAN_BYTES = 64 * 1024
#: Zip members examined at most; beyond this an archive is refused as suspicious.
MAX_ZIP_MEMBERS = 10_000

_IMPORT_OPCODES = frozenset({"GLOBAL", "INST"})
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
# A parse error this close to the end of a full prefix is truncation, not a non-pickle.
_TRUNCATION_MARGIN = 4096


def _legacy_pickle(prefix: bytes) -> bool:
    """Protocol 0/1 pickles have no magic number: parse opcodes, and demand real imports.

    Text files parse as a few opcodes by accident, so the prefix counts as a pickle only if it
    reaches STOP with nothing but whitespace after it, or imports ``module name`` pairs that are
    valid Python identifiers (what every code-running legacy pickle does) before STOP or before
    the prefix is cut off.
    """
    imports = False
    position = 0
    try:
        with warnings.catch_warnings():
            # Decoding a STRING argument of arbitrary bytes warns about escapes like '\w'.
            warnings.simplefilter("ignore", DeprecationWarning)
            for opcode, arg, pos in pickletools.genops(io.BytesIO(prefix)):
                position = pos or 0
                if opcode.name in _IMPORT_OPCODES:
                    module, _, name = str(arg).partition(" ")
                    if not (_IDENTIFIER.fullmatch(module) and _IDENTIFIER.fullmatch(name)):
                        return False
                    imports = True
                if opcode.name == "STOP":
                    return position > 0 and (imports or not prefix[position + 1 :].strip())
    except (ValueError, UnicodeDecodeError, IndexError):
        truncated = len(prefix) >= SCAN_BYTES and position >= SCAN_BYTES - _TRUNCATION_MARGIN
        return imports and truncated
    return False


def is_pickle(prefix: bytes) -> bool:
    """Whether ``prefix`` (the start of a stream) is a pickle (protocol 2+ opens with PROTO)."""
    if len(prefix) >= 2 and prefix[0] == 0x80 and 2 <= prefix[1] <= 5:
        return True
    return _legacy_pickle(prefix)


def _zip_format(path: Path) -> str | None:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        return None
    with archive:
        members = archive.infolist()
        if len(members) > MAX_ZIP_MEMBERS:
            return f"zip archive with more than {MAX_ZIP_MEMBERS} members"
        for member in members:
            if PurePosixPath(member.filename).suffix == ".pkl":
                return "torch.save/zip archive containing a pickle"
            if member.is_dir():
                continue
            try:
                with archive.open(member) as handle:
                    head = handle.read(SCAN_BYTES)
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError):
                continue
            if is_pickle(head):
                return "zip archive containing a pickle"
    return None


def _inflate(head: bytes, decompress: Callable[[bytes], bytes]) -> bytes:
    try:
        return decompress(head)
    except (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError):
        return b""


def _zlib(data: bytes) -> bytes:
    return zlib.decompressobj().decompress(data, SCAN_BYTES)


def _gzip(data: bytes) -> bytes:
    return zlib.decompressobj(wbits=31).decompress(data, SCAN_BYTES)


def _bz2(data: bytes) -> bytes:
    return bz2.BZ2Decompressor().decompress(data, SCAN_BYTES)


def _lzma(data: bytes) -> bytes:
    return lzma.LZMADecompressor().decompress(data, SCAN_BYTES)


# Magic numbers of the compressors joblib uses, each with a bounded decompressor.
_COMPRESSED: tuple[tuple[tuple[bytes, ...], str, Callable[[bytes], bytes]], ...] = (
    ((b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda"), "zlib", _zlib),
    ((b"\x1f\x8b",), "gzip", _gzip),
    ((b"BZh",), "bz2", _bz2),
    ((b"\xfd7zXZ\x00", b"\x5d\x00\x00"), "lzma", _lzma),
)


def unsafe_format(path: Path) -> str | None:
    """Name the code-executing format of the file at ``path``, or ``None`` if it is not one."""
    with path.open("rb") as handle:
        head = handle.read(SCAN_BYTES)
    if is_pickle(head):
        return "pickle"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _zip_format(path)
    for magics, name, decompress in _COMPRESSED:
        if head.startswith(magics) and is_pickle(_inflate(head, decompress)):
            return f"joblib/{name}-compressed pickle"
    return None


def validate_title(title: str) -> str:
    """Return ``title`` if it is a safe relative POSIX path, else raise InvalidArgument.

    Refused: empty, absolute, drive-qualified, backslashes, NUL or control characters, and any
    empty, ``.`` or ``..`` component. The same check guards push and pull.
    """
    problem: str | None = None
    if not title or len(title) > 4096:
        problem = "is empty or too long"
    elif not title.isprintable():
        problem = "contains control characters"
    elif "\\" in title:
        problem = "contains a backslash"
    elif title.startswith("/") or (len(title) > 1 and title[1] == ":"):
        problem = "is absolute"
    elif any(part in ("", ".", "..") for part in title.split("/")):
        problem = "has an empty, '.' or '..' component"
    if problem is not None:
        raise InvalidArgument(f"file title {title!r} {problem}; titles are relative paths")
    return title


def prepare_target(root: Path, title: str) -> Path:
    """Create the parent directories of ``root / title`` and return that path.

    Each existing component must be a real directory, not a symlink, so a crafted title or a
    planted link cannot make a write land outside ``root``; the target itself must not be a
    symlink or a directory.
    """
    parts = validate_title(title).split("/")
    current = root
    for part in parts[:-1]:
        current = current / part
        if current.is_symlink() or (current.exists() and not current.is_dir()):
            raise InvalidArgument(f"file title {title!r} passes through a non-directory")
        current.mkdir(exist_ok=True)
    target = current / parts[-1]
    if target.is_symlink() or target.is_dir():
        raise InvalidArgument(f"file title {title!r} names a symlink or directory at the target")
    return target
