"""The local model store: model versions as OCI artifacts in an OCI image layout.

    root/                       StoreSettings.root ($INFERD_HOME)
      store/                    the OCI image layout (readable by skopeo, oras, …)
        oci-layout, index.json, blobs/sha256/<hex>
        inferd.lock             exclusive lock for index and history changes
        inferd-history.jsonl    append-only log of tag moves
      models/<manifest-hex>/    verified, read-only files of materialized versions
      models/<manifest-hex>.stamp   inodes and times of those files, checked on each use
      access/<manifest-hex>     last use of each version (mtime), for the cache budget

Names and tags are validated by the OCI grammar and used only as keys in ``index.json`` and the
history; every filesystem path is derived from a digest. Tag changes are read-modify-writes of
``index.json`` under the lock, each recorded in the history in the same critical section.

Built with :class:`~inferd.store.remote.RemoteRegistries`, every operation also accepts remote
references ``host[:port]/name:tag[@digest]``: a remote version is pulled into the local store
(a cache record in ``index.json`` keeps its blobs; shared files are not downloaded twice) and
then behaves exactly as a local one. Network transfers never happen under the store lock.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from inferd.card import ModelCard
from inferd.config import StoreSettings
from inferd.errors import InvalidArgument, ModelNotFound, NotFound, Unavailable, Unsupported
from inferd.reference import Reference, validate_name
from inferd.store import cache, gc, history, listing, materialized, media, staging, trust
from inferd.store.history import HistoryEvent
from inferd.store.layout import OciLayout, check_home
from inferd.store.manifest import MAX_DOCUMENT_BYTES, Descriptor, Manifest
from inferd.store.progress import Progress
from inferd.store.remote.registries import RemoteRegistries
from inferd.store.remote.settings import RegistrySettings
from inferd.store.results import (
    GcResult,
    MaterializedModel,
    PushResult,
    ResolvedModel,
    TagEntry,
    Transfer,
)
from inferd.store.staging import Staged


class ModelStore:
    """Stage and commit (a push), resolve, materialize, pull, tag, untag, list, history and gc
    of model versions.

    Without ``remote`` only local names are accepted (a reference naming a registry raises
    Unsupported); :meth:`from_settings` enables registries as configured by the environment.
    """

    def __init__(self, root: Path, remote: RemoteRegistries | None = None) -> None:
        self.root = root
        self.layout = OciLayout(root / "store")
        self.models = root / "models"
        self.remote = remote

    @classmethod
    def from_settings(
        cls, settings: StoreSettings, registries: RegistrySettings | None = None
    ) -> ModelStore:
        """A store with remote registries (``registries``, else read from the environment);
        InvalidArgument when ``settings.root`` (``$INFERD_HOME``) cannot be a directory."""
        check_home(settings.root)
        remote_settings = registries or RegistrySettings.from_environ()
        return cls(settings.root, RemoteRegistries(remote_settings))

    def close(self) -> None:
        """Close registry connections (the store stays usable; clients reopen on demand)."""
        if self.remote is not None:
            self.remote.close()

    def _parse(self, text: str, *, tagged: bool = False) -> Reference:
        ref = Reference.parse_tagged(text) if tagged else Reference.parse(text)
        if ref.registry is not None and self.remote is None:
            raise Unsupported(
                f"reference {text!r} names the registry {ref.registry!r}; this store was built "
                "for local names only (drop the registry part)"
            )
        return ref

    def _registries(self) -> RemoteRegistries:
        if self.remote is None:
            raise Unsupported("this store was built for local names only")
        return self.remote

    def fetch(self, ref: str, *, progress: Progress | None = None) -> Transfer:
        """Pull remote version ``ref`` into the local store; return what moved.

        Blobs already stored (from any version) are not downloaded again. For a local
        reference nothing moves and the result names its digest.
        """
        parsed = self._parse(ref)
        if parsed.registry is None:
            digest, manifest, _ = self._load(parsed)
            count = len(manifest.digests())
            return Transfer(digest, count, 0, count)
        return self._fetch(parsed, progress)

    def _fetch(self, ref: Reference, progress: Progress | None = None) -> Transfer:
        transfer = self._registries().fetch(self.layout, ref, progress)
        cache.touch(self.root, transfer.digest)
        return transfer

    def stage(self, path: Path, ref: str, *, trust_unsafe_format: bool = False) -> Staged:
        """Check the file or directory at ``path`` as a new version to be tagged ``ref``.

        Nothing is stored yet. Symlinks and unsafe titles are refused, and files not admitted
        as data (:mod:`inferd.store.admission`) raise UnsafeFormat unless
        ``trust_unsafe_format``, which :meth:`commit` records in the history (``trust-format``
        events). :func:`inferd.packaging.push` stages, describes and commits in one call.
        """
        target = self._parse(ref, tagged=True)
        self.layout.init()
        return staging.stage(path, target, trust_unsafe_format=trust_unsafe_format)

    def commit(
        self,
        staged: Staged,
        card: ModelCard,
        *,
        progress: Progress | None = None,
        network_progress: Progress | None = None,
    ) -> PushResult:
        """Store ``staged``'s files with ``card`` as a new version and tag it.

        ``card`` must name the staged model and record the trusted formats
        (``staged.trusted_formats``). ``progress(done, total)`` is called with bytes as files
        stream into the store. Blobs are written without the lock; the tag moves under it,
        after every blob of the version is checked to still be there. A remote target is
        uploaded after the local write (``network_progress`` reports the bytes sent); the
        result's ``transfer`` says what moved.
        """
        staging.check_card(staged, card)
        target, added, renewal = staged.target, set[str](), gc.Renewal(self.layout.blobs)
        try:  # ``renewal`` keeps the new blobs from gc's grace period until the tag moves
            written = staging.write(renewal.blobs, staged, card, progress, added, renewal=renewal)
            transfer = self._publish(target, written, renewal.around(network_progress))
        except BaseException:  # refused, unreachable, Ctrl-C: take back only what this added
            gc.discard(self.layout, added)
            raise
        cache.touch(self.root, written.manifest_digest)
        return PushResult(
            target,
            written.manifest_digest,
            written.card,
            written.manifest.size,
            len(written.manifest.layers),
            transfer,
        )

    def _publish(
        self, target: Reference, written: staging.Written, network_progress: Progress | None
    ) -> Transfer | None:
        """Upload ``written`` to a remote ``target``, or tag it locally under the lock.

        A remote push records the trusted files only once the registry took the version: a
        failed one leaves the history as it was."""
        if target.registry is not None:
            transfer = self._registries().push(
                self.layout, target, written.manifest_digest, network_progress
            )
            trust.record(self.layout, target.name, target.tag or "", written.trusted)
            return transfer
        trust.record(self.layout, target.name, target.tag or "", written.trusted)
        with self.layout.locked():
            needed = {written.manifest_digest, *written.manifest.digests()}
            if not all(self.layout.blobs.exists(d) for d in needed):
                raise Unavailable("a concurrent gc removed blobs of this push; push again")
            descriptor = Descriptor(media.MANIFEST, written.manifest_digest, written.manifest_size)
            self._move_tag(target, descriptor, "push")
        return None

    def _move_tag(
        self,
        ref: Reference,
        descriptor: Descriptor,
        action: history.Action,
        detail: str | None = None,
    ) -> None:
        """Point ``ref`` at ``descriptor`` and record it; the caller holds the lock."""
        index = self.layout.read_index()
        old = index.put(ref.tagged, descriptor, media.ARTIFACT_TYPE)
        tag, new = ref.tag or "", descriptor.digest
        entry = history.event(ref.name, tag, action, old, new, detail=detail)
        with history.moving(self.layout.history_file, entry):  # consistent across a crash
            self.layout.write_index(index)

    def _manifest_digest(self, ref: Reference) -> str:
        if ref.digest is not None:
            if not self.layout.blobs.exists(ref.digest):
                raise NotFound(f"model {ref!s} not found")
            return ref.digest
        digest = self.layout.read_index().get(ref.tagged)
        if digest is None:
            raise ModelNotFound(ref.name, ref.tag)
        return digest

    def _load(self, ref: Reference) -> tuple[str, Manifest, ModelCard]:
        """Digest, manifest and verified card of a version; a remote one is fetched first."""
        if ref.registry is not None:
            return self._load_digest(self._fetch(ref).digest, None)
        return self._load_digest(self._manifest_digest(ref), ref)

    def _load_digest(self, digest: str, ref: Reference | None) -> tuple[str, Manifest, ModelCard]:
        manifest = self.layout.read_manifest(digest)
        data = self.layout.blobs.read_bytes(manifest.config.digest, limit=MAX_DOCUMENT_BYTES)
        try:
            card = ModelCard.model_validate_json(data)
        except ValidationError:
            raise Unsupported(f"model card {manifest.config.digest} is not valid") from None
        if ref is not None and ref.digest is not None and card.name != ref.name:
            # A digest names bytes; this keeps ``other@digest`` from borrowing another model.
            # (A tag is explicit in index.json, even one another OCI tool wrote across names.)
            raise NotFound(f"model {ref!s} not found")
        return digest, manifest, card

    def resolve(self, ref: str) -> ResolvedModel:
        """Resolve a reference to its manifest digest and verified card; NotFound if absent.

        A remote reference is pulled into the local store first.
        """
        parsed = self._parse(ref)
        digest, manifest, card = self._load(parsed)
        cache.touch(self.root, digest)
        return ResolvedModel(parsed, digest, card, manifest.size)

    def materialize(self, ref: str) -> MaterializedModel:
        """The version's verified files under ``root/models/<manifest-hex>/`` (read-only).

        Built in a temp directory and renamed into place, so the directory exists only when
        complete; concurrent callers race harmlessly and all get the same path, which depends
        on the digest alone. An existing directory is reused only while its files are the ones
        materialized (a stamp of their inodes and times, else their hashes); one changed on
        disk is rebuilt (:mod:`inferd.store.materialized`). A remote reference is pulled into
        the local store first (what ``inferd serve host/name:tag`` relies on).
        """
        digest, manifest, card = self._load(self._parse(ref))
        cache.touch(self.root, digest)
        path = materialized.materialize(self.layout.blobs, self.models, digest, manifest)
        return MaterializedModel(path, digest, card, manifest.size)

    def pull(
        self, ref: str, dest: Path, *, progress: Callable[[int, int], None] | None = None
    ) -> Path:
        """Write the version's verified files under ``dest`` (created if needed); return it.

        Every title is re-validated and each file appears atomically, only if its bytes match.
        A ``dest`` that cannot be created or written raises InvalidArgument naming it.
        A remote reference is pulled into the local store first. ``progress(done, total)`` is
        called with bytes as files are written.
        """
        digest, manifest, _ = self._load(self._parse(ref))
        return self._write(digest, manifest, dest, progress)

    def pull_fetched(
        self, fetched: Transfer, dest: Path, *, progress: Progress | None = None
    ) -> Path:
        """:meth:`pull` the version :meth:`fetch` returned, without resolving its reference
        again: a tag that moved since is not followed and no registry is asked twice, so what
        is written is what the fetch reported (``inferd pull`` prints its digest)."""
        digest, manifest, _ = self._load_digest(fetched.digest, None)
        return self._write(digest, manifest, dest, progress)

    def _write(
        self, digest: str, manifest: Manifest, dest: Path, progress: Progress | None
    ) -> Path:
        cache.touch(self.root, digest)
        materialized.write_into(self.layout.blobs, manifest, dest, self.root, progress)
        return dest

    def tag(self, src: str, dst: str, *, progress: Progress | None = None) -> ResolvedModel:
        """Point tag ``dst`` at the version ``src`` resolves to.

        Between local names, tags stay within one model name (promotion is re-tagging). A
        remote ``dst`` uploads the version there (like ``docker tag`` + ``docker push``;
        ``progress`` reports the bytes sent); a remote ``src`` with a local ``dst`` of the same
        name pulls it and tags it locally.
        """
        source, target = self._parse(src), self._parse(dst, tagged=True)
        if target.registry is None and source.name != target.name:
            raise InvalidArgument(
                f"cannot tag {source.name!r} as {target.name!r}: tags stay within one model name"
            )
        # A remote source is fetched before the lock is taken: no network under the lock.
        fetched = self._fetch(source).digest if source.registry is not None else None

        def version() -> tuple[str, Manifest, ModelCard]:
            return self._load(source) if fetched is None else self._load_digest(fetched, None)

        if target.registry is not None:
            digest, manifest, card = version()
            self._registries().push(self.layout, target, digest, progress)
            cache.touch(self.root, digest)
            return ResolvedModel(target, digest, card, manifest.size)
        with self.layout.locked():
            digest, manifest, card = version()
            size = self.layout.blobs.size(digest)
            self._move_tag(target, Descriptor(media.MANIFEST, digest, size), "tag")
        return ResolvedModel(target, digest, card, manifest.size)

    def compare_and_tag(
        self, src: str, dst: str, expect: str | None, *, detail: str | None = None
    ) -> bool:
        """Point local tag ``dst`` at the version ``src`` resolves to only while ``dst`` still
        points at digest ``expect`` (None: does not exist); False, changing nothing, when it
        points elsewhere. Checked and moved under the lock, so a concurrent :meth:`tag` lands
        wholly before (and wins) or after. The history records the move with ``detail``."""
        source, target = self._parse(src), self._parse(dst, tagged=True)
        if source.registry or target.registry or source.name != target.name:
            raise InvalidArgument(f"compare_and_tag moves a local tag of {source.name!r} only")
        with self.layout.locked():
            if self.layout.read_index().get(target.tagged) != expect:
                return False
            digest, _, _ = self._load(source)
            if digest != expect:
                size = self.layout.blobs.size(digest)
                self._move_tag(target, Descriptor(media.MANIFEST, digest, size), "tag", detail)
        return True

    def untag(self, ref: str) -> None:
        """Remove a tag (the version's blobs stay until :meth:`gc`); local tags only."""
        target = self._parse(ref, tagged=True)
        if target.registry is not None:
            raise Unsupported(
                f"registries delete manifests, not tags; remove {ref!r} with the registry's own "
                "tools (untag works on local names)"
            )
        with self.layout.locked():
            index = self.layout.read_index()
            old = index.remove(target.tagged)
            if old is None:
                raise ModelNotFound(target.name, target.tag)
            entry = history.event(target.name, target.tag or "", "rm", old, None)
            with history.moving(self.layout.history_file, entry):
                self.layout.write_index(index)

    def list(self, name: str | None = None) -> builtins.list[TagEntry]:
        """Every tag (of ``name``, if given), sorted by name then tag; ``created`` is when the
        version first got a tag here (the history), else what its card declares. A version
        whose blobs are missing or corrupt is listed with ``error`` set (:mod:`.listing`).

        ``name`` may be a remote repository ``host[:port]/name``: its tags are listed from the
        registry, other tools' artifacts included (runtime empty), without pulling anything.
        """
        if name is not None:
            registry, repo = listing.parse_name(name)
            if registry is not None:
                self._parse(name)  # the same grammar and remote check as every reference
                return sorted(self._registries().list(registry, repo), key=lambda e: e.tag)
        return listing.local_tags(self.layout, name, self._load_version)

    def _load_version(self, digest: str) -> tuple[Manifest, ModelCard]:
        _, manifest, card = self._load_digest(digest, None)
        return manifest, card

    def created(self, model: ResolvedModel) -> datetime | None:
        """When a local version first got a tag in this store (as :meth:`list` shows it), else
        the creation time its card declares."""
        if model.reference.registry is None:
            self.layout.settle()
            arrived = history.arrivals(self.layout.history_file)
            return arrived.get((model.reference.name, model.digest), model.card.created)
        return model.card.created

    def history(self, name: str) -> builtins.list[HistoryEvent]:
        """Every tag move of ``name``, oldest first."""
        self.layout.settle()
        return history.read(self.layout.history_file, validate_name(name))

    def gc(self, max_size: int | None = None) -> GcResult:
        """Delete unreferenced blobs and materialized directories of untagged versions.

        With ``max_size`` (bytes), then evict least-recently-used materialized directories and
        pulled versions not tagged locally until the store fits (:mod:`inferd.store.cache`).
        """
        self.layout.init()
        collected = gc.collect(self.layout, self.models, self.root / cache.ACCESS_DIR)
        if max_size is None:
            return collected
        evicted = cache.evict(self.layout, self.models, self.root, max_size)
        return GcResult(
            blobs_removed=collected.blobs_removed + evicted.blobs_removed,
            bytes_freed=collected.bytes_freed + evicted.bytes_freed,
            models_removed=collected.models_removed + evicted.models_removed,
            versions_evicted=evicted.versions_removed,
            bytes_used=evicted.bytes_used,
            blobs_kept=collected.blobs_kept,
            bytes_kept=collected.bytes_kept,
        )
