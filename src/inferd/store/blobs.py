"""Content-addressed blobs: ``blobs/sha256/<hex>``, hashed while streamed, verified on read.

A blob's path is derived only from a validated digest, never from a name or tag. Every write
streams in :data:`CHUNK`-sized pieces through sha256 into a temporary file and is renamed into
place only once complete; every read that hands bytes onwards hashes them again and raises
:class:`~inferd.errors.IntegrityError` naming the blob when they disagree with its digest, and
removes the damaged copy so that a pull or push can store it again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from inferd.errors import IntegrityError, NotFound, PayloadTooLarge
from inferd.reference import DIGEST_RE, validate_digest
from inferd.store.atomic import TEMP_PREFIX, replacing, staged
from inferd.store.progress import Count

#: Streaming unit: large files never sit in memory whole.
CHUNK = 1024 * 1024

"""Called with the number of bytes just processed."""


def sha256_digest(hasher: hashlib._Hash) -> str:
    return f"sha256:{hasher.hexdigest()}"


def _copy(source: BinaryIO, sink: BinaryIO, progress: Count | None) -> tuple[str, int]:
    """Copy ``source`` to ``sink`` chunk by chunk; return the digest and size of what passed."""
    hasher = hashlib.sha256()
    size = 0
    while chunk := source.read(CHUNK):
        hasher.update(chunk)
        sink.write(chunk)
        size += len(chunk)
        if progress is not None:
            progress(len(chunk))
    return sha256_digest(hasher), size


class BlobStore:
    """The ``blobs/sha256`` directory of one OCI layout."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, digest: str) -> Path:
        """Where the blob lives; ``digest`` is validated first, so the path stays inside."""
        return self.directory / validate_digest(digest).removeprefix("sha256:")

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: str) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found") from None

    def write(
        self,
        source: BinaryIO,
        *,
        expected: str | None = None,
        progress: Count | None = None,
        added: set[str] | None = None,
    ) -> tuple[str, int]:
        """Stream ``source`` into the store; return ``(digest, size)``.

        With ``expected``, bytes that hash differently are discarded and raise
        :class:`IntegrityError`. An existing blob with the same digest is replaced by the freshly
        verified copy, which also repairs a blob that was damaged on disk. The digest goes into
        ``added`` when no blob had it before, so that a failed push can take back what it added.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        with staged(self.directory, mode=0o444) as stage:
            digest, size = _copy(source, stage.handle, progress)
            if expected is not None and digest != expected:
                raise IntegrityError(expected, digest)
            new = not self.exists(digest)
            stage.commit(self.path(digest))
        if new and added is not None:
            added.add(digest)
        return digest, size

    def write_bytes(self, data: bytes, *, added: set[str] | None = None) -> tuple[str, int]:
        """Store a small blob (a manifest or a card) held in memory; ``added`` as for
        :meth:`write`."""
        digest = sha256_digest(hashlib.sha256(data))
        new = not self.exists(digest)
        with replacing(self.path(digest), mode=0o444) as handle:
            handle.write(data)
        if new and added is not None:
            added.add(digest)
        return digest, len(data)

    def read_bytes(self, digest: str, *, limit: int) -> bytes:
        """Read a small blob whole, verified; refuse one larger than ``limit`` bytes."""
        path = self.path(digest)
        try:
            with path.open("rb") as handle:
                data = handle.read(limit + 1)
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found") from None
        if len(data) > limit:
            raise PayloadTooLarge(f"blob {digest} is larger than {limit} bytes")
        actual = sha256_digest(hashlib.sha256(data))
        if actual != digest:
            raise self._corrupt(digest, actual)
        return data

    def copy_to(
        self, digest: str, target: Path, *, mode: int = 0o644, progress: Count | None = None
    ) -> int:
        """Atomically write the verified bytes of a blob to ``target``; return its size.

        ``target`` appears only if every byte matched the digest.
        """
        try:
            source = self.path(digest).open("rb")
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found") from None
        with source, replacing(target, mode=mode) as sink:
            actual, size = _copy(source, sink, progress)
            if actual != digest:
                raise self._corrupt(digest, actual)
        return size

    def _corrupt(self, digest: str, actual: str) -> IntegrityError:
        """A stored blob whose bytes hash to ``actual``: removed, so that the next pull of a
        version holding it downloads it again (a blob already stored never is, so a damaged
        copy would fail every pull for good) and the next push writes it anew. Writes are
        atomic renames, so a mismatch is damage on disk, never a write in progress."""
        self.path(digest).unlink(missing_ok=True)
        return IntegrityError(digest, actual, removed=True)

    def digests(self) -> Iterator[str]:
        """Every stored blob's digest (temporary files and stray names are skipped)."""
        if not self.directory.is_dir():
            return
        for entry in self.directory.iterdir():
            digest = f"sha256:{entry.name}"
            if DIGEST_RE.fullmatch(digest) is not None:
                yield digest

    def temp_files(self) -> Iterator[Path]:
        """Temporary files of writes in progress, or left behind by a crash."""
        if self.directory.is_dir():
            yield from self.directory.glob(f"{TEMP_PREFIX}*")
