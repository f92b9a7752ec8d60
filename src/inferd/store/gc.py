"""Garbage collection: delete blobs no manifest in ``index.json`` references.

Runs under the store lock, so no tag can move meanwhile. A push writes its blobs *before* it
takes the lock to tag them, so blobs and temporary files younger than :data:`GRACE_S` are
kept whether referenced or not. A push renews the times of the blobs it wrote while it runs
(:class:`Renewal`), so that it may outlive the grace period; it also
re-checks its blobs under the lock and fails cleanly rather than tagging a manifest with missing
blobs.

Referenced blobs are found generically (config, layers, nested indexes), so images or artifacts
that other OCI tools copied into the layout are kept too.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from inferd.errors import DataLoss
from inferd.reference import DIGEST_RE
from inferd.store import materialized, media
from inferd.store.atomic import TEMP_PREFIX
from inferd.store.blobs import BlobStore
from inferd.store.layout import OciLayout
from inferd.store.manifest import MAX_DOCUMENT_BYTES
from inferd.store.progress import Progress
from inferd.store.results import GcResult

#: Age below which an unreferenced blob or temp file may belong to a push in progress.
GRACE_S = 600.0


#: How often a push or pull in progress renews the times of the blobs it wrote (seconds).
RENEW_S = 60.0


@dataclass(slots=True)
class Renewal:
    """Keeps the blobs a push or pull wrote young while it runs. They are unreferenced until
    it tags or records them, and ``gc`` removes an unreferenced blob once it is older than
    :data:`GRACE_S`: without this, a push or pull outliving that (a large model, a slow link)
    lost its first files to a ``gc`` run by cron, and failed each time again. Renewed from
    its progress reports, at most every :data:`RENEW_S` (``renewed=0``: at the first)."""

    blobs: BlobStore
    digests: set[str] = field(default_factory=set)
    renewed: float = field(default_factory=time.monotonic)

    def around(self, progress: Progress | None) -> Progress:
        """``progress``, renewing the blobs first (a report comes with every piece moved)."""

        def report(done: int, total: int) -> None:
            self.renew()
            if progress is not None:
                progress(done, total)

        return report

    def renew(self) -> None:
        now = time.monotonic()
        if now - self.renewed < RENEW_S:
            return
        self.renewed = now
        for digest in list(self.digests):
            with contextlib.suppress(OSError):  # another user's blob: its time is not ours
                os.utime(self.blobs.path(digest))


# Documents whose descriptors point at further blobs; everything else is a leaf.
_CONTAINERS = frozenset({
    media.MANIFEST,
    media.INDEX,
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
})  # fmt: skip


def _descriptors(document: object) -> list[tuple[str, str]]:
    """``(digest, media type)`` of what a manifest or index points at."""
    if not isinstance(document, dict):
        return []
    found: list[object] = [document.get("config"), document.get("subject")]
    for key in ("layers", "manifests", "blobs"):
        items = document.get(key)
        if isinstance(items, list):
            found.extend(items)
    out: list[tuple[str, str]] = []
    for item in found:
        if isinstance(item, dict):
            digest, media_type = item.get("digest"), item.get("mediaType")
            if isinstance(digest, str) and _is_digest(digest):
                out.append((digest, media_type if isinstance(media_type, str) else ""))
    return out


def referenced(layout: OciLayout) -> tuple[set[str], set[str]]:
    """``(every referenced blob, the manifests index.json names)``.

    Only manifests and indexes are read, never configs or layer payloads. A manifest missing
    from the store is skipped; a corrupt one aborts collection with IntegrityError.
    """
    roots = list(layout.read_index().descriptors())
    seen: set[str] = set()
    pending = [(d.digest, d.media_type) for d in roots]
    while pending:
        digest, media_type = pending.pop()
        if digest in seen:
            continue
        seen.add(digest)
        if media_type not in _CONTAINERS or not layout.blobs.exists(digest):
            continue
        data = layout.blobs.read_bytes(digest, limit=MAX_DOCUMENT_BYTES)
        try:
            pending.extend(_descriptors(orjson.loads(data)))
        except orjson.JSONDecodeError:
            continue
    return seen, {d.digest for d in roots}


def discard(layout: OciLayout, digests: Iterable[str]) -> None:
    """Remove the blobs a failed pull or push stored (``digests``: those it created), except
    any that ``index.json`` references by now (another version with the same file, recorded
    meanwhile). Under the store lock, as gc deletes."""
    with layout.locked():
        try:
            keep, _ = referenced(layout)
        except DataLoss:  # a damaged index: keep everything, as gc does, and let the command's
            return  # own failure be the one reported
        for digest in set(digests) - keep:
            layout.blobs.path(digest).unlink(missing_ok=True)


def _is_digest(text: str) -> bool:
    return DIGEST_RE.fullmatch(text) is not None


def _old(path: Path, now: float) -> bool:
    try:
        return now - path.lstat().st_mtime > GRACE_S
    except FileNotFoundError:
        return False


def _idle(directory: Path, now: float) -> bool:
    """Nothing in ``directory`` was written for the grace period: a materialize writing one
    large file adds no entry, so the directory's own time says nothing of it."""
    try:
        return _old(directory, now) and all(_old(p, now) for p in directory.rglob("*"))
    except OSError:  # removed meanwhile, or unreadable: not ours to remove now
        return False


def collect(layout: OciLayout, models: Path, access: Path | None = None) -> GcResult:
    """Remove unreferenced blobs, materialized dirs of versions no longer in the index,
    stamps of materialized dirs that are gone, and the markers in ``access`` (the cache's
    record of use) of manifests no longer stored."""
    now = time.time()
    with layout.locked():
        keep, manifests = referenced(layout)
        removed = freed = kept = kept_bytes = 0
        for digest in list(layout.blobs.digests()):
            path = layout.blobs.path(digest)
            if digest in keep:
                continue
            if not _old(path, now):
                with contextlib.suppress(FileNotFoundError):
                    kept, kept_bytes = kept + 1, kept_bytes + path.stat().st_size
                continue
            freed += path.stat().st_size
            path.unlink()
            removed += 1
        if access is not None and access.is_dir():
            for marker in list(access.iterdir()):
                manifest = f"sha256:{marker.name}"
                if _is_digest(manifest) and not layout.blobs.exists(manifest):
                    marker.unlink(missing_ok=True)
        for temp in list(layout.blobs.temp_files()):
            if _old(temp, now):
                temp.unlink(missing_ok=True)
        models_removed = 0
        if models.is_dir():
            for entry in list(models.iterdir()):
                if entry.name.startswith(TEMP_PREFIX):
                    if _idle(entry, now):
                        shutil.rmtree(entry, ignore_errors=True)
                elif _is_digest(f"sha256:{entry.name}") and f"sha256:{entry.name}" not in manifests:
                    if materialized.remove_unless_held(entry):  # a load's stays till it ends
                        models_removed += 1
                elif entry.name.endswith(materialized.STAMP_SUFFIX):
                    stamped = entry.with_name(entry.name.removesuffix(materialized.STAMP_SUFFIX))
                    if not stamped.is_dir():
                        entry.unlink(missing_ok=True)
    return GcResult(
        blobs_removed=removed, bytes_freed=freed, models_removed=models_removed,
        blobs_kept=kept, bytes_kept=kept_bytes,
    )  # fmt: skip
