"""A file of JSON lines rotated by size, as ``logging.handlers.RotatingFileHandler`` does.

Before a write would take the file past ``max_bytes``, ``PATH`` becomes ``PATH.1`` (``PATH.1``
becomes ``PATH.2``, and so on), the oldest beyond ``max_files - 1`` rotated files is deleted,
and a new ``PATH`` is started; rotated files beyond ``max_files`` that an earlier, larger
``max_files`` left go too. A line is never split across files; a single line larger than
``max_bytes`` gets a file of its own. With ``max_files`` 1 the file simply starts over.

Blocking: call it from a worker thread (the payload log's file sink does).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import BinaryIO

#: A new file is its owner's alone: the requests and answers it holds may be personal data.
_PRIVATE = 0o600
_APPEND = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC


def _open_private(path: Path) -> BinaryIO:
    return os.fdopen(os.open(path, _APPEND, _PRIVATE), "a+b")


class RotatingFile:
    """Appends lines to ``path``; see the module docstring for the rotation."""

    def __init__(self, path: Path, max_bytes: int, max_files: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.max_files = max_files
        self._file: BinaryIO | None = None
        self._size = 0

    def write(self, lines: list[bytes]) -> None:
        """Append ``lines`` (each ending in a newline), rotating between lines as needed."""
        self._open()  # an existing file's size counts from the first write
        chunk: list[bytes] = []
        chunk_size = 0
        for line in lines:
            if self._size + chunk_size + len(line) > self.max_bytes and self._size + chunk_size:
                self._append(chunk)
                chunk, chunk_size = [], 0
                self._rotate()
            chunk.append(line)
            chunk_size += len(line)
        self._append(chunk)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _open(self) -> BinaryIO:
        if self._file is None:
            # Open first: a failure then names the file and why (a parent that is a file says
            # "Not a directory", where mkdir said "File exists" of the parent).
            try:
                self._file = _open_private(self.path)
            except FileNotFoundError:
                self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                self._file = _open_private(self.path)
            self._size = self._file.seek(0, os.SEEK_END)
            if self._size and _last_byte(self._file) != b"\n":
                # A torn last line (the process writing it was killed): end it, or the first
                # line written now would be joined to it and lost to every reader.
                self._file.write(b"\n")
                self._size += 1
        return self._file

    def _append(self, chunk: list[bytes]) -> None:
        if not chunk:
            return
        file = self._open()
        file.writelines(chunk)
        file.flush()
        self._size += sum(len(line) for line in chunk)

    def _rotate(self) -> None:
        self.close()
        self._size = 0
        keep = self.max_files - 1
        # The oldest file goes, and with it those a larger max_files left (a spec that lowered
        # it): PATH.keep, PATH.keep+1 … while they run on.
        n = max(keep, 1)
        while self._numbered(n).exists():
            self._numbered(n).unlink(missing_ok=True)
            n += 1
        if keep < 1:
            self.path.unlink(missing_ok=True)
            return
        for n in range(keep - 1, 0, -1):
            with contextlib.suppress(FileNotFoundError):
                self._numbered(n).replace(self._numbered(n + 1))
        with contextlib.suppress(FileNotFoundError):  # removed by hand meanwhile
            self.path.replace(self._numbered(1))

    def _numbered(self, n: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{n}")


def _last_byte(file: BinaryIO) -> bytes:
    file.seek(-1, os.SEEK_END)
    return file.read(1)
