"""The local cache budget: least-recently-used eviction for ``inferd gc --max-size``.

The store records when each version was last used (resolve, materialize, pull, push) by
touching ``root/access/<manifest-hex>``; the modification time of that marker is the access
time, written on purpose, so nothing depends on the filesystem's ``atime`` (often ``noatime``).

Under a size budget, versions are evicted oldest access first, until the store's blobs plus
materialized directories fit:

- every version loses its materialized directory (it can be rebuilt from the blobs);
- a version held only as a cache record of a remote reference (pulled, not tagged locally) also
  loses its record and every blob no remaining version references — it can be pulled again.

Locally tagged versions keep their blobs: the cache never deletes what a user stored. A version
a server is loading (:class:`~inferd.store.materialized.Hold`) is in use, and kept whole.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from inferd.reference import DIGEST_RE
from inferd.store import gc, materialized
from inferd.store.layout import OciLayout

ACCESS_DIR = "access"


@dataclass(frozen=True, slots=True)
class Eviction:
    """What an eviction pass removed, and the bytes the store occupies afterwards."""

    models_removed: int
    versions_removed: int
    blobs_removed: int
    bytes_freed: int
    bytes_used: int


def touch(root: Path, digest: str) -> None:
    """Record that the version with manifest ``digest`` was just used.

    The record is a hint for eviction order, so a store that cannot be written (mounted
    read-only into a serving pod, another user's, a full disk) is still read: the use goes
    unrecorded rather than failing ``inspect``, ``pull`` or a load."""
    directory = root / ACCESS_DIR
    marker = directory / digest.removeprefix("sha256:")
    with contextlib.suppress(OSError):
        directory.mkdir(parents=True, exist_ok=True)
        marker.touch()
        os.utime(marker)


def _last_access(root: Path, digest: str) -> float:
    try:
        return (root / ACCESS_DIR / digest.removeprefix("sha256:")).stat().st_mtime
    except FileNotFoundError:
        return 0.0  # never recorded: older than anything that was


def _tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _blob_sizes(layout: OciLayout) -> Iterator[tuple[str, int]]:
    for digest in layout.blobs.digests():
        with contextlib.suppress(FileNotFoundError):
            yield digest, layout.blobs.path(digest).stat().st_size


def _writing(layout: OciLayout) -> int:
    """Bytes of blobs being written (a pull or push in progress): on the disk, not evictable."""
    total = 0
    for temp in layout.blobs.temp_files():
        with contextlib.suppress(FileNotFoundError):
            total += temp.stat().st_size
    return total


def usage(layout: OciLayout, models: Path) -> int:
    """Bytes of every blob, blob being written and materialized directory."""
    copies = sum(_tree_size(d) for d in models.iterdir()) if models.is_dir() else 0
    return sum(size for _, size in _blob_sizes(layout)) + _writing(layout) + copies


def evict(layout: OciLayout, models: Path, root: Path, max_bytes: int) -> Eviction:
    """Evict least-recently-used versions until the store fits in ``max_bytes``."""
    models_removed = versions_removed = blobs_removed = freed = 0
    with layout.locked():
        used = usage(layout, models)
        index = layout.read_index()
        tagged = {digest for _, digest in index.tags()}
        cached: dict[str, list[str]] = {}
        for remote, digest in index.cached():
            cached.setdefault(digest, []).append(remote)
        copies = {
            f"sha256:{d.name}"
            for d in (models.iterdir() if models.is_dir() else [])
            if DIGEST_RE.fullmatch(f"sha256:{d.name}")
        }
        candidates = sorted(copies | set(cached), key=lambda d: _last_access(root, d))
        for digest in candidates:
            if used <= max_bytes:
                break
            directory = models / digest.removeprefix("sha256:")
            if directory.is_dir():
                size = _tree_size(directory)
                if not materialized.remove_unless_held(directory):
                    continue  # a server is loading it: the version stays whole, as in use
                used, freed, models_removed = used - size, freed + size, models_removed + 1
            if digest in cached and digest not in tagged:
                for remote in cached[digest]:
                    index.remove_cached(remote)
                layout.write_index(index)
                blobs, released = _release(layout, digest)
                used, freed, versions_removed = (
                    used - released,
                    freed + released,
                    versions_removed + 1,
                )
                blobs_removed += blobs
                (root / ACCESS_DIR / digest.removeprefix("sha256:")).unlink(missing_ok=True)
    return Eviction(models_removed, versions_removed, blobs_removed, freed, used)


def _release(layout: OciLayout, manifest_digest: str) -> tuple[int, int]:
    """Delete the blobs of ``manifest_digest`` that nothing in the index references any more;
    return how many and their bytes."""
    keep, _ = gc.referenced(layout)
    owned = {manifest_digest}
    if layout.blobs.exists(manifest_digest):
        owned |= layout.read_manifest(manifest_digest).digests()
    removed = released = 0
    for digest in owned - keep:
        path = layout.blobs.path(digest)
        with contextlib.suppress(FileNotFoundError):
            size = path.stat().st_size
            path.unlink()
            removed, released = removed + 1, released + size
    return removed, released
