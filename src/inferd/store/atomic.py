"""Atomic file writes and the store's exclusive lock.

A file written here is either absent or complete: bytes go to a temporary file in the target's
directory (same filesystem), are fsync'ed, then ``os.replace`` moves them into place and the
directory entry is fsync'ed. Temporary names start with :data:`TEMP_PREFIX` so that garbage
collection can tell a write in progress (young) from debris of a crash (old).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

TEMP_PREFIX = ".tmp-"

#: A write failing for want of room (a full disk, a quota) names no file: :func:`staged` adds it.
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def fsync_dir(directory: Path) -> None:
    """Make a rename or unlink inside ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Staged:
    """A temporary file being written; :meth:`commit` moves it into place atomically."""

    def __init__(self, handle: BinaryIO, path: Path, mode: int) -> None:
        self.handle = handle
        self.path = path
        self.mode = mode
        self.committed = False

    def commit(self, target: Path) -> None:
        """Flush, fsync and rename onto ``target`` (same filesystem), then fsync the directory."""
        self.handle.flush()
        os.fchmod(self.handle.fileno(), self.mode)
        os.fsync(self.handle.fileno())
        self.handle.close()
        self.path.replace(target)
        self.committed = True
        fsync_dir(target.parent)


@contextlib.contextmanager
def staged(directory: Path, *, mode: int = 0o644) -> Iterator[Staged]:
    """Yield a temp file in ``directory``; unless committed, it is removed when the block ends."""
    fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=directory)
    stage = Staged(os.fdopen(fd, "wb"), Path(name), mode)
    try:
        yield stage
    except OSError as exc:
        if exc.filename is None and exc.errno in _FULL:  # a write says not where: the disk's
            raise OSError(exc.errno, exc.strerror, str(directory)) from exc  # directory does
        raise
    finally:
        if not stage.committed:
            # Bytes still buffered fail again on a full disk as the file closes (which closes
            # it all the same): the file is discarded, so that failure must not keep it.
            with contextlib.suppress(OSError):
                stage.handle.close()
            stage.path.unlink(missing_ok=True)


@contextlib.contextmanager
def replacing(target: Path, *, mode: int = 0o644) -> Iterator[BinaryIO]:
    """Yield a file that atomically becomes ``target`` when the block exits cleanly.

    If the block raises, ``target`` is left untouched and nothing is left behind.
    """
    with staged(target.parent, mode=mode) as stage:
        yield stage.handle
        stage.commit(target)


def write_bytes(target: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Atomically replace ``target`` with ``data``."""
    with replacing(target, mode=mode) as handle:
        handle.write(data)


@contextlib.contextmanager
def exclusive_lock(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_file`` (created if missing) for the block.

    The lock is tied to the open file description, so it is released when the block exits or
    the process dies; it serialises every read-modify-write of the index and the history.
    """
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o666)  # the umask decides who shares it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
