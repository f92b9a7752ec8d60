"""The local model store: model versions as OCI artifacts in an OCI image layout.

    root/                       StoreSettings.root ($INFERD_HOME)
      store/                    the OCI image layout (readable by skopeo, oras, …)
        oci-layout, index.json, blobs/sha256/<hex>
        inferd.lock             exclusive lock for index and history changes
        inferd-history.jsonl    append-only log of tag moves
      models/<manifest-hex>/    verified, read-only files of materialized versions

Names and tags are validated by the OCI grammar and used only as keys in ``index.json`` and the
history; every filesystem path is derived from a digest. Tag changes are read-modify-writes of
``index.json`` under the lock, each recorded in the history in the same critical section.
"""

from __future__ import annotations

import builtins
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from pydantic import ValidationError

from inferd.card import ModelCard, Signature
from inferd.config import StoreSettings
from inferd.errors import InvalidArgument, ModelNotFound, NotFound, Unavailable, Unsupported
from inferd.store import gc, history, media
from inferd.store.atomic import TEMP_PREFIX, fsync_dir
from inferd.store.history import HistoryEvent
from inferd.store.layout import OciLayout
from inferd.store.manifest import MAX_DOCUMENT_BYTES, Descriptor, Manifest
from inferd.store.push import PushOptions, package
from inferd.store.reference import Reference, validate_name
from inferd.store.results import (
    GcResult,
    MaterializedModel,
    PushResult,
    ResolvedModel,
    TagEntry,
)
from inferd.store.safety import prepare_target


def _local(text: str, *, tagged: bool = False) -> Reference:
    ref = Reference.parse_tagged(text) if tagged else Reference.parse(text)
    if ref.registry is not None:
        raise Unsupported(
            f"reference {text!r} names the registry {ref.registry!r}; the local store holds "
            "local names only (drop the registry part)"
        )
    return ref


class ModelStore:
    """Push, resolve, materialize, pull, tag, untag, list, history and gc of model versions."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.layout = OciLayout(root / "store")
        self.models = root / "models"

    @classmethod
    def from_settings(cls, settings: StoreSettings) -> ModelStore:
        return cls(settings.root)

    def push(
        self,
        path: Path,
        ref: str,
        *,
        runtime: str | None = None,
        signature: Signature | None = None,
        trust_unsafe_format: bool = False,
        labels: Mapping[str, str] | None = None,
        source_revision: str | None = None,
        progress: Callable[[int, int], None] | None = None,
        metadata: Path | None = None,
    ) -> PushResult:
        """Store the file or directory at ``path`` as a new version and tag it ``ref``.

        The runtime is ``runtime``, else ``inferd.model.yaml``'s, else detected from content;
        the signature is ``signature``, else the model's own (ONNX), else the YAML's.
        ``metadata`` names a YAML file to use instead of ``inferd.model.yaml`` beside/inside
        ``path``. Pickle-like files raise UnsafeFormat unless ``trust_unsafe_format``.
        ``progress(done, total)`` is called with bytes as files stream into the store.
        """
        target = _local(ref, tagged=True)
        self.layout.init()
        options = PushOptions(
            runtime=runtime,
            signature=signature,
            trust_unsafe_format=trust_unsafe_format,
            labels=labels,
            source_revision=source_revision,
            metadata=metadata,
            progress=progress,
        )
        packaged = package(self.layout.blobs, path, target, options)
        descriptor = Descriptor(media.MANIFEST, packaged.manifest_digest, packaged.manifest_size)
        with self.layout.locked():
            needed = {packaged.manifest_digest, *packaged.manifest.digests()}
            if not all(self.layout.blobs.exists(d) for d in needed):
                raise Unavailable("a concurrent gc removed blobs of this push; push again")
            self._move_tag(target, descriptor, "push")
        return PushResult(
            target,
            packaged.manifest_digest,
            packaged.card,
            packaged.manifest.size,
            len(packaged.manifest.layers),
        )

    def _move_tag(self, ref: Reference, descriptor: Descriptor, action: history.Action) -> None:
        """Point ``ref`` at ``descriptor`` and record it; the caller holds the lock."""
        index = self.layout.read_index()
        old = index.put(ref.tagged, descriptor, media.ARTIFACT_TYPE)
        self.layout.write_index(index)
        tag = ref.tag or ""
        history.append(
            self.layout.history_file, history.event(ref.name, tag, action, old, descriptor.digest)
        )

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
        digest = self._manifest_digest(ref)
        manifest = self.layout.read_manifest(digest)
        data = self.layout.blobs.read_bytes(manifest.config.digest, limit=MAX_DOCUMENT_BYTES)
        try:
            card = ModelCard.model_validate_json(data)
        except ValidationError:
            raise Unsupported(f"model card {manifest.config.digest} is not valid") from None
        if ref.digest is not None and card.name != ref.name:
            # A digest names bytes; this keeps ``other@digest`` from borrowing another model.
            # (A tag is explicit in index.json, even one another OCI tool wrote across names.)
            raise NotFound(f"model {ref!s} not found")
        return digest, manifest, card

    def resolve(self, ref: str) -> ResolvedModel:
        """Resolve a reference to its manifest digest and verified card; NotFound if absent."""
        parsed = _local(ref)
        digest, manifest, card = self._load(parsed)
        return ResolvedModel(parsed, digest, card, manifest.size)

    def materialize(self, ref: str) -> MaterializedModel:
        """The version's verified files under ``root/models/<manifest-hex>/`` (read-only).

        Built in a temp directory and renamed into place, so the directory exists only when
        complete; concurrent callers race harmlessly and all get the same path, which depends
        on the digest alone. An existing directory is reused.
        """
        digest, manifest, card = self._load(_local(ref))
        final = self.models / digest.removeprefix("sha256:")
        if not final.is_dir():
            self.models.mkdir(parents=True, exist_ok=True)
            building = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=self.models))
            try:
                self._write_files(manifest, building, mode=0o444)
                building.rename(final)
            except OSError:
                if not final.is_dir():
                    raise
            finally:
                shutil.rmtree(building, ignore_errors=True)
            fsync_dir(self.models)
        return MaterializedModel(final, digest, card, manifest.size)

    def _write_files(self, manifest: Manifest, dest: Path, *, mode: int) -> None:
        for item in manifest.layers:
            self.layout.blobs.copy_to(item.digest, prepare_target(dest, item.title), mode=mode)

    def pull(self, ref: str, dest: Path) -> Path:
        """Write the version's verified files under ``dest`` (created if needed); return it.

        Every title is re-validated and each file appears atomically, only if its bytes match.
        """
        _, manifest, _ = self._load(_local(ref))
        dest.mkdir(parents=True, exist_ok=True)
        self._write_files(manifest, dest, mode=0o644)
        return dest

    def tag(self, src: str, dst: str) -> ResolvedModel:
        """Point tag ``dst`` at the version ``src`` resolves to (the same model name)."""
        source, target = _local(src), _local(dst, tagged=True)
        if source.name != target.name:
            raise InvalidArgument(
                f"cannot tag {source.name!r} as {target.name!r}: tags stay within one model name"
            )
        with self.layout.locked():
            digest, manifest, card = self._load(source)
            size = self.layout.blobs.size(digest)
            self._move_tag(target, Descriptor(media.MANIFEST, digest, size), "tag")
        return ResolvedModel(target, digest, card, manifest.size)

    def untag(self, ref: str) -> None:
        """Remove a tag (the version's blobs stay until :meth:`gc`)."""
        target = _local(ref, tagged=True)
        with self.layout.locked():
            index = self.layout.read_index()
            old = index.remove(target.tagged)
            if old is None:
                raise ModelNotFound(target.name, target.tag)
            self.layout.write_index(index)
            entry = history.event(target.name, target.tag or "", "rm", old, None)
            history.append(self.layout.history_file, entry)

    def list(self, name: str | None = None) -> builtins.list[TagEntry]:
        """Every tag (of ``name``, if given), sorted by name then tag."""
        if name is not None:
            validate_name(name)
        entries: builtins.list[TagEntry] = []
        for ref_name, _digest in self.layout.read_index().tags():
            try:
                ref = Reference.parse_tagged(ref_name)
            except InvalidArgument:
                continue  # an entry another tool wrote, not an inferd name:tag
            if name is not None and ref.name != name:
                continue
            try:
                digest, manifest, card = self._load(ref)
            except Unsupported:
                continue  # an image or artifact another tool copied into the layout
            created = card.created
            entries.append(
                TagEntry(ref.name, ref.tag or "", digest, card.runtime, manifest.size, created)
            )
        return sorted(entries, key=lambda e: (e.name, e.tag))

    def history(self, name: str) -> builtins.list[HistoryEvent]:
        """Every tag move of ``name``, oldest first."""
        return history.read(self.layout.history_file, validate_name(name))

    def gc(self) -> GcResult:
        """Delete unreferenced blobs and materialized directories of untagged versions."""
        self.layout.init()
        return gc.collect(self.layout, self.models)
