"""The OCI image layout directory: ``oci-layout``, ``index.json``, ``blobs/sha256/``.

``index.json`` holds one manifest descriptor per tag, annotated with
``org.opencontainers.image.ref.name`` = ``name:tag`` (what ``skopeo``'s ``oci:DIR:name:tag``
looks up). Beside the layout's own files the store keeps its lock file and history log; OCI tools
ignore files they do not know.

Every change to the index is a read-modify-write under :meth:`OciLayout.locked`, and the new
index replaces the old atomically, so concurrent writers never lose each other's tags.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from inferd.errors import DataLoss, InvalidArgument, Unsupported
from inferd.store import atomic, history, media
from inferd.store.blobs import BlobStore
from inferd.store.manifest import MAX_DOCUMENT_BYTES, Descriptor, Manifest
from inferd.store.safety import not_a_directory

LAYOUT_FILE = "oci-layout"
INDEX_FILE = "index.json"
LOCK_FILE = "inferd.lock"
HISTORY_FILE = "inferd-history.jsonl"


def check_home(root: Path) -> None:
    """Refuse a store root (``$INFERD_HOME``) that is, or lies under, something other than a
    directory; it need not exist yet (the first push creates it).

    Checked up front so that a mistyped ``INFERD_HOME`` is one clear error, not an OS error
    from whichever file a command happens to open first.
    """
    link = _dangling_link(root)
    if link is not None:
        raise InvalidArgument(
            f"INFERD_HOME {str(root)!r} cannot be created: {str(link)!r} is a symbolic link to "
            f"{str(link.readlink())!r}, which does not exist (a disk not mounted?); create it, or "
            "set INFERD_HOME elsewhere"
        )
    blocking = not_a_directory(root)
    if blocking == root:
        raise InvalidArgument(f"INFERD_HOME {str(root)!r} is not a directory")
    if blocking is not None:
        raise InvalidArgument(
            f"INFERD_HOME {str(root)!r} cannot be created: {str(blocking)!r} is not a directory"
        )


def _dangling_link(root: Path) -> Path | None:
    """The symbolic link at or above ``root`` whose target does not exist, if one is in the
    way (``mkdir`` would fail with "File exists" on it)."""
    for candidate in (root, *root.parents):
        if candidate.is_symlink():
            return None if candidate.exists() else candidate
        if candidate.exists():
            return None
    return None


def ensure_home(root: Path) -> None:
    """:func:`check_home`, then create the root: for the commands that always write there
    (``serve``, ``up``: tokens, state, logs), one clear error up front for a root that cannot be
    created (e.g. under ``/proc``, or on a read-only mount), not an OS error from whichever file
    they write first."""
    check_home(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidArgument(
            f"INFERD_HOME {str(root)!r} cannot be created ({exc.strerror})"
        ) from None


class Index:
    """The parsed ``index.json``; descriptors written by other tools are kept as they are."""

    def __init__(self, manifests: list[dict[str, Any]]) -> None:
        self.manifests = manifests

    @staticmethod
    def _ref_name(entry: dict[str, Any]) -> str | None:
        annotations = entry.get("annotations")
        if isinstance(annotations, dict):
            name = annotations.get(media.ANNOTATION_REF_NAME)
            return name if isinstance(name, str) else None
        return None

    def get(self, ref_name: str) -> str | None:
        """The manifest digest tagged ``ref_name`` (``name:tag``), if any."""
        for entry in self.manifests:
            if self._ref_name(entry) == ref_name:
                digest = entry.get("digest")
                return digest if isinstance(digest, str) else None
        return None

    def put(self, ref_name: str, descriptor: Descriptor, artifact_type: str) -> str | None:
        """Point ``ref_name`` at ``descriptor``; return the digest it pointed at before."""
        old = self.remove(ref_name)
        entry = descriptor.to_json()
        entry["artifactType"] = artifact_type
        entry["annotations"] = {media.ANNOTATION_REF_NAME: ref_name}
        self.manifests.append(entry)
        self.manifests.sort(key=lambda e: self._ref_name(e) or "")
        return old

    def remove(self, ref_name: str) -> str | None:
        """Drop the tag ``ref_name``; return the digest it pointed at, if it existed."""
        old = self.get(ref_name)
        self.manifests = [e for e in self.manifests if self._ref_name(e) != ref_name]
        return old

    @staticmethod
    def _remote_ref(entry: dict[str, Any]) -> str | None:
        annotations = entry.get("annotations")
        if isinstance(annotations, dict) and media.ANNOTATION_REF_NAME not in annotations:
            remote = annotations.get(media.ANNOTATION_REMOTE_REF)
            return remote if isinstance(remote, str) else None
        return None

    def put_cached(self, remote_ref: str, descriptor: Descriptor, artifact_type: str) -> None:
        """Record a version pulled from or pushed to ``remote_ref`` (``host/name:tag``).

        The entry has no ``ref.name``, so OCI tools and local names ignore it, while garbage
        collection keeps what it references, like any descriptor in the index.
        """
        self.remove_cached(remote_ref)
        entry = descriptor.to_json()
        entry["artifactType"] = artifact_type
        entry["annotations"] = {media.ANNOTATION_REMOTE_REF: remote_ref}
        self.manifests.append(entry)

    def remove_cached(self, remote_ref: str) -> None:
        self.manifests = [e for e in self.manifests if self._remote_ref(e) != remote_ref]

    def cached(self) -> Iterator[tuple[str, str]]:
        """``(remote ref, manifest digest)`` of every cache record."""
        for entry in self.manifests:
            remote, digest = self._remote_ref(entry), entry.get("digest")
            if remote is not None and isinstance(digest, str):
                yield remote, digest

    def tags(self) -> Iterator[tuple[str, str]]:
        """``(ref_name, digest)`` for every tagged descriptor, in index order."""
        for entry in self.manifests:
            ref_name, digest = self._ref_name(entry), entry.get("digest")
            if ref_name is not None and isinstance(digest, str):
                yield ref_name, digest

    def descriptors(self) -> Iterator[Descriptor]:
        """Every manifest descriptor, tagged or not (what garbage collection must keep)."""
        for position, entry in enumerate(self.manifests):
            yield Descriptor.from_json(entry, f"index.json entry {position}")

    def to_bytes(self) -> bytes:
        document = {"schemaVersion": 2, "mediaType": media.INDEX, "manifests": self.manifests}
        return orjson.dumps(document, option=orjson.OPT_INDENT_2)


class OciLayout:
    """One OCI image layout directory and the blobs in it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.blobs = BlobStore(directory / "blobs" / "sha256")
        self.history_file = directory / HISTORY_FILE

    def init(self) -> None:
        """Create the layout if missing (idempotent; safe to race)."""
        try:
            self.blobs.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # e.g. an INFERD_HOME under /proc, or on a read-only mount
            raise InvalidArgument(
                f"the store {str(self.directory)!r} cannot be created ({exc.strerror}); "
                "set INFERD_HOME to a directory inferd may write"
            ) from None
        layout_file = self.directory / LAYOUT_FILE
        if not layout_file.exists():
            version = {"imageLayoutVersion": media.OCI_LAYOUT_VERSION}
            atomic.write_bytes(layout_file, orjson.dumps(version))
        if not (self.directory / INDEX_FILE).exists():
            with self.locked():
                if not (self.directory / INDEX_FILE).exists():
                    self.write_index(Index([]))

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store-wide exclusive lock (index, history and gc go through it); a tag move
        a crash left journaled is settled first (:func:`inferd.store.history.settle`)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with atomic.exclusive_lock(self.directory / LOCK_FILE):
            with contextlib.suppress(DataLoss):  # a damaged index: its commands say so
                history.settle(self.history_file, lambda tagged: self.read_index().get(tagged))
            yield

    def settle(self) -> None:
        """Settle a tag move a crash left journaled, before the history is read without the
        lock; a store that cannot be locked (mounted read-only) is read as it is."""
        if history.pending(self.history_file).exists():
            with contextlib.suppress(OSError), self.locked():
                pass

    def read_index(self) -> Index:
        try:
            data = (self.directory / INDEX_FILE).read_bytes()
        except FileNotFoundError:
            return Index([])
        try:
            document = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise DataLoss("index.json of the store is damaged: it is not JSON") from None
        manifests = document.get("manifests") if isinstance(document, dict) else None
        if not isinstance(manifests, list) or not all(isinstance(m, dict) for m in manifests):
            raise DataLoss("index.json of the store is damaged: it has no valid 'manifests' list")
        # Every entry must be a descriptor, for every command alike: gc could not tell what an
        # invalid one keeps alive, and a listing that skipped it would hide a tag.
        for position, entry in enumerate(manifests):
            try:
                Descriptor.from_json(entry, f"entry {position}")
            except Unsupported as exc:
                raise DataLoss(f"index.json of the store is damaged: {exc.message}") from None
        return Index(manifests)

    def write_index(self, index: Index) -> None:
        """Atomically replace ``index.json``; call under :meth:`locked`."""
        atomic.write_bytes(self.directory / INDEX_FILE, index.to_bytes())

    def read_manifest(self, digest: str) -> Manifest:
        """The verified, validated manifest stored under ``digest``."""
        return Manifest.parse(self.blobs.read_bytes(digest, limit=MAX_DOCUMENT_BYTES), digest)
