"""Materialized versions: a version's files under ``models/<manifest-hex>/``, checked on each use.

Servers load a version from this directory, not from the blobs, so the store's promise (every
byte it hands on is verified) must hold for it as well. Hashing every file on every load costs
a full read: sha256 ran at about 1.4 GB/s here from the page cache (0.18 s for 256 MiB, some
5 s for a 7 GB GGUF, more from a cold disk). So a directory is checked by a stamp instead:

- it is built from the blobs (each verified as it is copied) in a temp directory, its files
  read-only (0444), and renamed into place; then ``models/<manifest-hex>.stamp`` records each
  file's device, inode, size, mtime and ctime;
- each later use lists the directory (one ``lstat`` per file, about a microsecond) and
  compares: the same files and nothing else, no symlinks, every stat equal. Any write, chmod,
  replacement, rename or added file changes an inode or a ctime, and no unprivileged process
  can set a ctime back;
- a missing or different stamp (a directory made before stamps existed, a copied
  ``INFERD_HOME``) falls back to hashing every file against the manifest; a match writes a
  fresh stamp;
- a mismatch discards the directory (renamed aside, then deleted) and builds it again from the
  blobs, with a warning in the log: a changed copy is never served.

A load holds its directory (:class:`Hold`: a shared ``flock`` on the directory itself) while it
reads the files, and ``gc`` removes a directory only when it gets the exclusive lock at once
(:func:`remove_unless_held`): a cron ``gc --max-size`` never deletes a version under a load, and
a crashed server pins nothing, since the kernel drops its locks with the process.

The stamp catches changes made through the filesystem. It is no defence against someone who can
write the store itself (who could as well re-tag a version): it lives beside the files it checks.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import logging
import os
import secrets
import shutil
import stat
import tempfile
from pathlib import Path

import orjson

from inferd.errors import InvalidArgument, NotFound
from inferd.store.atomic import TEMP_PREFIX, fsync_dir, write_bytes
from inferd.store.blobs import CHUNK, BlobStore, sha256_digest
from inferd.store.manifest import Manifest
from inferd.store.progress import Meter, Progress
from inferd.store.safety import not_a_directory, prepare_target

log = logging.getLogger(__name__)

STAMP_SUFFIX = ".stamp"
_STAMP_VERSION = 1

"""``progress(done, total)`` in bytes as files are written."""

#: Relative POSIX path of each file → ``[st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns]``.
Listing = dict[str, list[int]]


def write_files(
    blobs: BlobStore,
    manifest: Manifest,
    dest: Path,
    *,
    mode: int,
    progress: Progress | None = None,
) -> None:
    """Write every layer's verified bytes under ``dest`` at its title (each file atomically)."""
    advance = Meter(sum(item.size for item in manifest.layers), progress)
    for item in manifest.layers:
        target = prepare_target(dest, item.title)
        try:
            blobs.copy_to(item.digest, target, mode=mode, progress=advance)
        except NotFound:
            raise NotFound(
                f"{missing_file(item.title, item.digest)}; push the version again, or "
                "pull it again from its registry"
            ) from None


def missing_file(title: str, digest: str) -> str:
    """What is wrong with a version whose file ``title`` has no blob ``digest`` in the store."""
    return f"file {title!r} (blob {digest}) is missing from the store"


def write_into(
    blobs: BlobStore,
    manifest: Manifest,
    dest: Path,
    home: Path,
    progress: Progress | None = None,
) -> None:
    """Write every layer's verified bytes under ``dest`` (created with its parents): a pull.

    ``dest`` is a user's argument, so what keeps it from being created or written (a file in
    the way, a missing or read-only mount) is an InvalidArgument naming it, not an OS error;
    errors on the store's own files pass through. No file may land inside the store's
    ``home`` (``INFERD_HOME``): a model's ``index.json`` would replace the store's own.
    """
    _outside(home, dest, [item.title for item in manifest.layers])
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocking = not_a_directory(dest)
        why = _reason(exc) if blocking is None else f"{str(blocking)!r} is not a directory"
        raise InvalidArgument(f"cannot create the destination {str(dest)!r}: {why}") from None
    try:
        write_files(blobs, manifest, dest, mode=0o644, progress=progress)
    except OSError as exc:
        if not isinstance(exc.filename, str) or not Path(exc.filename).is_relative_to(dest):
            raise
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise  # a full disk, named: its own status, as for the store's
        message = f"cannot write into the destination {str(dest)!r}: {_reason(exc)}"
        raise InvalidArgument(message) from None


def _outside(home: Path, dest: Path, titles: list[str]) -> None:
    """Refuse a pull whose ``dest``, or any file of it, is inside ``home`` (resolved, so a
    symlink to it or a ``..`` changes nothing)."""
    inside = home.resolve()
    for path in (dest, *(dest / title for title in titles)):
        if path.resolve().is_relative_to(inside):
            raise InvalidArgument(
                f"cannot pull into {str(dest)!r}: {str(path)!r} is inside the store's home "
                f"{str(inside)!r} (INFERD_HOME), whose files a pull would overwrite; pull "
                "elsewhere"
            )


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def materialize(blobs: BlobStore, models: Path, digest: str, manifest: Manifest) -> Path:
    """``models/<manifest-hex>/``, holding exactly the manifest's files: reused when its stamp
    (or, failing that, the files' hashes) says it is intact, built from the blobs otherwise.

    Concurrent callers race harmlessly: the first rename wins and all get the same path.
    """
    final = models / digest.removeprefix("sha256:")
    if final.is_dir():
        if _intact(final, manifest):
            return final
        log.warning(
            "the materialized files of %s were changed on disk; rebuilding them from the "
            "store's verified blobs",
            digest,
        )
        remove(final)
    models.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=models))
    renamed = False
    try:  # readable as ``models/`` is (mkdtemp's 0700 kept the store's other users out)
        building.chmod(models.stat().st_mode & 0o777)
        write_files(blobs, manifest, building, mode=0o444)
        building.rename(final)
        renamed = True
    except OSError:
        if not final.is_dir():
            raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    fsync_dir(models)
    if renamed:
        listing = _listing(final)
        if listing is not None:
            _write_stamp(final, listing)
    return final


def remove(directory: Path) -> None:
    """Delete a materialized directory and its stamp.

    The directory is renamed aside first, so no reader ever finds it half deleted.
    """
    stamp_path(directory).unlink(missing_ok=True)
    aside = directory.with_name(f"{TEMP_PREFIX}{secrets.token_hex(8)}")
    try:
        directory.rename(aside)
    except FileNotFoundError:
        return
    shutil.rmtree(aside, ignore_errors=True)


class Hold:
    """A shared ``flock`` on a materialized directory: gc leaves it in place while held.

    Taken by a load for as long as it reads the files; released by :meth:`close` or by the
    process's death. FileNotFoundError when the directory is gone, or was removed (renamed
    aside) while the lock was awaited: the caller materializes it again.
    """

    def __init__(self, directory: Path) -> None:
        self._fd: int | None = os.open(directory, os.O_RDONLY)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_SH)
            held, there = os.fstat(self._fd), directory.stat()
            if (held.st_dev, held.st_ino) != (there.st_dev, there.st_ino):
                raise FileNotFoundError(errno.ENOENT, "removed by gc", str(directory))
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Hold:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def remove_unless_held(directory: Path) -> bool:
    """Remove a materialized directory and its stamp unless a load holds it (:class:`Hold`);
    False, removing nothing, when one does. Never waits for a load."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    try:  # renamed aside under the lock: a load waiting for it then finds the path gone
        remove(directory)
    finally:
        os.close(fd)
    return True


def stamp_path(directory: Path) -> Path:
    """Where the stamp of a materialized directory lives: beside it, never inside it (a
    runtime may list the directory)."""
    return directory.with_name(directory.name + STAMP_SUFFIX)


def _intact(directory: Path, manifest: Manifest) -> bool:
    listing = _listing(directory)
    if listing is None:
        return False
    if _read_stamp(directory) == listing:
        return True
    if not _matches(directory, manifest, listing):
        return False
    _write_stamp(directory, listing)
    return True


def _listing(directory: Path) -> Listing | None:
    """Every file under ``directory`` with its stat key; None when anything but regular files
    and real directories is there (a symlink, a device…)."""
    found: Listing = {}
    for dirpath, dirnames, filenames in os.walk(directory):
        base = Path(dirpath)
        if any((base / name).is_symlink() for name in dirnames):
            return None
        for name in filenames:
            try:
                info = os.lstat(base / name)
            except FileNotFoundError:
                return None
            if not stat.S_ISREG(info.st_mode):
                return None
            key = [info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]
            found[(base / name).relative_to(directory).as_posix()] = key
    return found


def _matches(directory: Path, manifest: Manifest, listing: Listing) -> bool:
    """Whether the listed files are exactly the manifest's layers, byte for byte."""
    layers = {item.title: item for item in manifest.layers}
    if set(listing) != set(layers):
        return False
    return all(
        listing[title][2] == item.size and _hash(directory / title) == item.digest
        for title, item in layers.items()
    )


def _hash(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            hasher.update(chunk)
    return sha256_digest(hasher)


def _read_stamp(directory: Path) -> Listing | None:
    try:
        document = orjson.loads(stamp_path(directory).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    if not isinstance(document, dict) or document.get("version") != _STAMP_VERSION:
        return None
    files = document.get("files")
    return files if isinstance(files, dict) else None


def _write_stamp(directory: Path, listing: Listing) -> None:
    document = {"version": _STAMP_VERSION, "files": listing}
    write_bytes(stamp_path(directory), orjson.dumps(document))
