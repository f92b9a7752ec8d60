"""A replica's output, kept bounded: one file per replica, rotated by size, a few kept.

The replica writes to a pipe that ``inferd up`` drains into :class:`RotatingLog`, so the file
can be rotated while the process runs (a child writing to an inherited file descriptor could
never be cut short). Each ``inferd up`` starts a fresh file: what an earlier run wrote becomes
``<name>.log.1`` and ages out with the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

#: A file is rotated once it passes this size.
MAX_LOG_BYTES = 10 * 1024 * 1024
#: Rotated files kept beside the current one (``.1`` is the newest).
LOG_BACKUPS = 5
#: What :meth:`RotatingLog.tail` reads by default: the last lines, where an exit says why.
TAIL_BYTES = 8192
_CHUNK = 64 * 1024


class RotatingLog:
    """Appends to ``path``; past ``max_bytes`` the file becomes ``path.1`` (``.1`` → ``.2`` …,
    the oldest beyond ``backups`` is deleted) and a new one is started."""

    def __init__(
        self, path: Path, max_bytes: int = MAX_LOG_BYTES, backups: int = LOG_BACKUPS
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._file: BinaryIO | None = None
        self._size = 0
        #: Bytes written through this object, over every file (marks where a run began).
        self.written = 0
        #: Bytes that could not be written (a full disk) and were dropped.
        self.dropped = 0
        self._failing = False
        if path.exists() and path.stat().st_size > 0:
            self._rotate()  # a new run starts a new file

    def open(self) -> None:
        """Open the current file (raises ``OSError`` if it cannot be: the caller's failure)."""
        if self._file is None:
            # The owner's alone: a replica's log holds its errors and, with the access log,
            # its clients' addresses and paths.
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
            self._file = os.fdopen(os.open(self.path, flags, 0o600), "ab")
            self._size = self._file.tell()

    def write(self, data: bytes) -> None:
        """Append ``data``; the write that takes the file to ``max_bytes`` rotates it after its
        last newline, so a line is not split between two files (the pipe hands over chunks that
        end anywhere). Only a write with no newline at all is cut where it ends.

        Output that cannot be written (a full disk) is dropped and counted, said once until a
        write succeeds again: the replica goes on serving, and its pipe on being drained."""
        try:
            self._write(data)
        except OSError as exc:
            self.close()  # the next write opens the file again
            self.dropped += len(data)
            if not self._failing:
                log.warning("cannot write %s (%s); dropping the replica's output until it can",
                            self.path, exc.strerror or exc)  # fmt: skip
            self._failing = True
        else:
            self._failing = False

    def _write(self, data: bytes) -> None:
        self.open()
        if self._size + len(data) >= self.max_bytes:
            cut = data.rfind(b"\n") + 1 or len(data)
            self._append(data[:cut])
            self._rotate()
            data = data[cut:]
            if not data:
                return
            self.open()
        self._append(data)

    def _append(self, data: bytes) -> None:
        assert self._file is not None
        self._file.write(data)
        self._file.flush()
        self._size += len(data)
        self.written += len(data)

    def tail(self, size: int = TAIL_BYTES) -> bytes:
        """The last ``size`` bytes written to the current file (b"" when there are none)."""
        try:
            with self.path.open("rb") as file:
                file.seek(max(file.seek(0, 2) - size, 0))
                return file.read()
        except OSError:
            return b""

    def close(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            with contextlib.suppress(OSError):  # its last flush failed: that output is dropped
                file.close()

    def _rotate(self) -> None:
        self.close()
        with contextlib.suppress(FileNotFoundError):
            self._numbered(self.backups).unlink()
        for index in range(self.backups - 1, 0, -1):
            with contextlib.suppress(FileNotFoundError):
                self._numbered(index).replace(self._numbered(index + 1))
        if self.backups > 0:
            self.path.replace(self._numbered(1))
        else:
            self.path.unlink()
        self._size = 0

    def _numbered(self, index: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{index}")


def remove_log(path: Path, backups: int = LOG_BACKUPS) -> None:
    """Delete a log file and its rotated files (those that exist)."""
    for file in (path, *(path.with_name(f"{path.name}.{i}") for i in range(1, backups + 1))):
        with contextlib.suppress(FileNotFoundError):
            file.unlink()


async def pump(stream: asyncio.StreamReader, sink: RotatingLog) -> None:
    """Copy ``stream`` into ``sink`` until the process closes it."""
    while chunk := await stream.read(_CHUNK):
        sink.write(chunk)
