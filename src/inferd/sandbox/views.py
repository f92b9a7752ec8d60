"""What of the store a sandbox worker sees: its own model's files, nothing else of ``$INFERD_HOME``.

The worker runs as the server's user, who can read the whole store: other models' files, the
keys file (``keys``), the control token (``up.token``), the audit log, the store's history.
In the worker's mount namespace each hidden directory (the server names them:
:func:`inferd.sandbox.process.hidden_directories`) is covered by an empty
read-only tmpfs, into which the model's own directory (read-only, as
:func:`inferd.sandbox.isolation.isolate` mounted it) and the Python the worker runs (where it
lies under one) are bind-mounted back at their paths. Nothing is copied; the view goes with
the process.

Standard library only: this runs before the worker imports numpy.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from inferd.sandbox.linux import (
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
)


def hide(libc: ctypes.CDLL, root: Path, paths: Sequence[str]) -> None:
    """Cover each of ``paths`` (outermost first) with an empty read-only tmpfs, binding back
    ``root`` and the Python this process runs where they lie under it. Raises OSError."""
    wanted = [str(root), sys.prefix, sys.base_prefix, *sys.path, os.environ.get("TMPDIR")]
    kept = list(dict.fromkeys(os.path.realpath(p) for p in wanted if p and Path(p).is_dir()))
    for home in _outermost(paths):
        if home in kept:
            continue  # the model's directory (or the Python) is the home itself
        # Only what lies under the home, the outermost of it: a path above the home (a
        # PYTHONPATH entry holding it) neither needs binding back nor stands for what is below.
        _cover(libc, home, _outermost([k for k in kept if _under(k, home)]))


def _outermost(paths: Iterable[str]) -> list[str]:
    unique = list(dict.fromkeys(paths))
    return [p for p in unique if not any(_under(p, q) and p != q for q in unique)]


def _cover(libc: ctypes.CDLL, home: str, inside: list[str]) -> None:
    """Mount the tmpfs on ``home``, bind each of ``inside`` back, then make it read-only."""
    held = [(path, os.open(path, os.O_PATH | os.O_DIRECTORY)) for path in inside]
    try:
        flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
        _mount(libc, "tmpfs", home, "tmpfs", flags, data="mode=0755,size=64k")
        for path, fd in held:
            Path(path).mkdir(mode=0o755, parents=True, exist_ok=True)
            _mount(libc, f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
            writable = not os.statvfs(path).f_flag & os.ST_RDONLY
            _mount(libc, None, path, None, MS_REMOUNT | MS_BIND | _kept_flags(path, writable))
        _mount(libc, None, home, None, MS_REMOUNT | MS_RDONLY | flags)
    finally:
        for _, fd in held:
            os.close(fd)
    if not os.statvfs(home).f_flag & os.ST_RDONLY:
        raise OSError(0, "the hidden directory is still writable", f"mount {home}")


def _kept_flags(path: str, writable: bool) -> int:
    """The flags a bind-mounted-back directory keeps (a scratch $TMPDIR stays writable)."""
    found = os.statvfs(path).f_flag
    flags = 0 if writable else MS_RDONLY
    flags |= MS_NOSUID if found & os.ST_NOSUID else 0
    flags |= MS_NODEV if found & os.ST_NODEV else 0
    return flags | (MS_NOEXEC if found & os.ST_NOEXEC else 0)


def _under(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def _mount(
    libc: ctypes.CDLL, source: str | None, target: str, kind: str | None, flags: int,
    *, data: str | None = None,
) -> None:  # fmt: skip
    result = libc.mount(
        source.encode() if source is not None else None,
        target.encode(),
        kind.encode() if kind is not None else None,
        flags,
        data.encode() if data is not None else None,
    )
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), f"mount {target}")
