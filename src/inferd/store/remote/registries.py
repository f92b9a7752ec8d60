"""Every registry the store talks to: one client per host, and the version-level operations.

:class:`RemoteRegistries` is what :class:`~inferd.store.ModelStore` holds when remote references
are enabled. It fetches versions into the local layout (recording each as a cache entry so the
blobs survive ``gc``), pushes local versions, and lists a remote repository's tags. Clients are
created on first use and shared by the transfer threads.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING

from pydantic import ValidationError

from inferd.card import ModelCard
from inferd.errors import (
    DataLoss,
    InferdError,
    InvalidArgument,
    NotFound,
    PayloadTooLarge,
    Unavailable,
    Unsupported,
)
from inferd.reference import Reference
from inferd.store import media
from inferd.store.layout import OciLayout
from inferd.store.manifest import Descriptor, Manifest
from inferd.store.progress import Progress
from inferd.store.remote.settings import RegistrySettings
from inferd.store.results import TagEntry, Transfer
from inferd.store.trust import check_layers

if TYPE_CHECKING:
    from inferd.store.remote.client import RegistryClient, RemoteManifest


def _registry(ref: Reference) -> str:
    if ref.registry is None:
        raise Unsupported(f"{ref!s} names no registry")
    return ref.registry


def cache_key(ref: Reference) -> str:
    """The cache record of a remote reference: ``host/name:tag`` or ``host/name@digest``."""
    return str(ref)


class RemoteRegistries:
    """Registry clients by host, built from one :class:`RegistrySettings`."""

    def __init__(self, settings: RegistrySettings) -> None:
        self.settings = settings
        self._clients: dict[str, RegistryClient] = {}
        self._lock = threading.Lock()

    def client(self, registry: str) -> RegistryClient:
        with self._lock:
            found = self._clients.get(registry)
            if found is None:
                # Deferred: httpx and the client load on the first remote reference, so a
                # store (and a server) that only reads local versions never imports them.
                from inferd.store.remote.client import RegistryClient
                from inferd.store.remote.transport import RegistryHttp

                found = RegistryClient(RegistryHttp(registry, self.settings))
                self._clients[registry] = found
            return found

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.http.close()
            self._clients.clear()

    def __enter__(self) -> RemoteRegistries:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def fetch(
        self, layout: OciLayout, ref: Reference, progress: Progress | None = None
    ) -> Transfer:
        """Bring version ``ref`` into ``layout`` and record it; return what moved.

        By digest, a version this repository was seen holding (a cache record of it: pulled
        or pushed here) whose files are all local costs no request at all; local bytes of
        another name or registry prove nothing about this repository, so it is asked. By tag,
        the registry is asked which digest the tag names now. Either way its files are admitted or
        trusted locally (:func:`~inferd.store.trust.check_layers`) before it is recorded. Blobs
        an eviction removed between download and record are fetched again (once), so a recorded
        version is complete.
        """
        if ref.digest is not None and _seen(layout, ref) and _complete(layout, ref.digest):
            cached = layout.read_manifest(ref.digest)
            check_layers(layout, cached)  # a cache filled before admission, or by another tool
            count = len(cached.digests())
            # Already held by a tag or a cache record: no second record for the same bytes.
            held = {d.digest for d in layout.read_index().descriptors()}
            if ref.digest in held or self._record(layout, ref, ref.digest):
                return Transfer(ref.digest, count, 0, count)
        from inferd.store.remote.sync import pull_version  # deferred with the client (see client)

        client = self.client(_registry(ref))
        for _ in range(2):
            transfer = pull_version(
                layout, client, ref.name, ref.digest or str(ref.tag), progress=progress
            )
            if self._record(layout, ref, transfer.digest):
                return transfer
        raise Unavailable(f"a concurrent gc kept removing blobs of {ref!s}; pull again")

    def push(
        self, layout: OciLayout, ref: Reference, digest: str, progress: Progress | None = None
    ) -> Transfer:
        """Upload the local version ``digest`` as ``ref`` (``host/name:tag``)."""
        from inferd.store.remote.sync import push_version  # deferred with the client (see client)

        registry = _registry(ref)
        mounts = dict(self._mount_sources(layout, registry, ref.name))
        transfer = push_version(
            layout, self.client(registry), ref.name, str(ref.tag), digest,
            mounts=mounts, progress=progress,
        )  # fmt: skip
        # Unrecorded (a gc raced the push) only loses a cache entry: the registry has it all.
        self._record(layout, ref, digest)
        return transfer

    def _record(self, layout: OciLayout, ref: Reference, digest: str) -> bool:
        """Record ``digest`` as what ``ref`` caches, if every blob of it is present.

        Checked under the store lock, which gc and eviction hold while they delete.
        """
        with layout.locked():
            if not _complete(layout, digest):
                return False
            descriptor = Descriptor(media.MANIFEST, digest, layout.blobs.size(digest))
            index = layout.read_index()
            index.put_cached(cache_key(ref), descriptor, media.ARTIFACT_TYPE)
            layout.write_index(index)
        return True

    def _mount_sources(
        self, layout: OciLayout, registry: str, repo: str
    ) -> Iterator[tuple[str, str]]:
        """``(blob digest, other repository)`` for blobs known to be in ``registry`` already."""
        for remote, digest in layout.read_index().cached():
            try:
                known = Reference.parse(remote)
            except InvalidArgument:
                continue
            if known.registry != registry or known.name == repo:
                continue
            with contextlib.suppress(InferdError):
                for blob in layout.read_manifest(digest).digests():
                    yield blob, known.name

    def list(self, registry: str, repo: str) -> list[TagEntry]:
        """One row per tag of ``repo``; artifacts that are not inferd models are listed too."""
        client = self.client(registry)
        entries = []
        for tag in client.tags(repo):
            remote = client.get_manifest(repo, tag)
            try:
                runtime, created = self._describe(client, repo, remote)
            except (NotFound, Unsupported, DataLoss, PayloadTooLarge) as exc:
                # This tag's card is missing or bad: a row saying so, not an error hiding the
                # healthy tags (as for a damaged local version, :mod:`inferd.store.listing`).
                entries.append(
                    TagEntry(f"{registry}/{repo}", tag, remote.digest, "", None, None, exc.message)
                )
                continue
            size = _layers_size(remote)
            entries.append(
                TagEntry(f"{registry}/{repo}", tag, remote.digest, runtime, size, created)
            )
        return entries

    @staticmethod
    def _describe(
        client: RegistryClient, repo: str, remote: RemoteManifest
    ) -> tuple[str, datetime | None]:
        """Runtime and creation time from the card of an inferd model, else from annotations."""
        try:
            manifest = Manifest.parse(remote.data, remote.digest)
        except (Unsupported, InvalidArgument):
            manifest = None
        if manifest is not None:
            data = client.read_blob(repo, manifest.config.digest)
            try:
                card = ModelCard.model_validate_json(data)
            except ValidationError:
                raise Unsupported(f"model card {manifest.config.digest} is not valid") from None
            return card.runtime, card.created
        annotations = remote.document().get("annotations")
        created = (
            annotations.get(media.ANNOTATION_CREATED) if isinstance(annotations, dict) else None
        )
        try:
            return "", datetime.fromisoformat(created) if isinstance(created, str) else None
        except ValueError:
            return "", None


def _seen(layout: OciLayout, ref: Reference) -> bool:
    """Whether a cache record says ``ref``'s registry repository holds ``ref.digest``."""
    for remote, digest in layout.read_index().cached():
        if digest != ref.digest:
            continue
        with contextlib.suppress(InvalidArgument):
            known = Reference.parse(remote)
            if (known.registry, known.name) == (ref.registry, ref.name):
                return True
    return False


def _complete(layout: OciLayout, digest: str) -> bool:
    """Whether the manifest ``digest`` and every blob it references are in ``layout``."""
    if not layout.blobs.exists(digest):
        return False
    return all(layout.blobs.exists(d) for d in layout.read_manifest(digest).digests())


def _layers_size(remote: RemoteManifest) -> int:
    layers = remote.document().get("layers")
    if not isinstance(layers, list):
        return 0
    return sum(
        item["size"]
        for item in layers
        if isinstance(item, dict) and isinstance(item.get("size"), int)
    )
