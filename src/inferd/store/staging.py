"""The store's half of a push: a new version's files checked (:func:`stage`), then written.

:func:`stage` runs every check before any byte is stored: symlinks and unsafe titles
(:mod:`inferd.store.files`), then files not admitted as data (:mod:`inferd.store.admission`;
staged only when the pusher trusts them). What the card says about the files (runtime,
signature, reference profile) is decided above the store, by :mod:`inferd.packaging`.
:func:`write` then stores the files, the card and the manifest as content-addressed blobs,
without the store lock; the version becomes visible only when
:meth:`~inferd.store.ModelStore.commit` tags its manifest under the lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from inferd.card import ModelCard
from inferd.errors import InvalidArgument, UnsafeFormat
from inferd.reference import Reference
from inferd.store import media
from inferd.store.admission import refusals
from inferd.store.blobs import BlobStore
from inferd.store.dataformats import Refusal
from inferd.store.files import SourceFile, collect
from inferd.store.gc import Renewal
from inferd.store.manifest import Descriptor, Layer, Manifest, check_titles, layer
from inferd.store.progress import Meter, Progress
from inferd.store.trust import TrustedFile

"""``progress(done, total)`` in bytes as files stream into the store."""


@dataclass(frozen=True, slots=True)
class Staged:
    """The checked files of a new version of ``target``; nothing is stored yet."""

    target: Reference
    #: The pushed file or directory.
    path: Path
    files: tuple[SourceFile, ...]
    #: Files not admitted as data, by title: staged only because the pusher trusts them.
    refused: Mapping[str, Refusal]

    @property
    def trusted_formats(self) -> tuple[str, ...]:
        """What the card must record as ``trusted_unsafe_formats`` (sorted, distinct)."""
        return tuple(sorted({r.format for r in self.refused.values()}))


@dataclass(frozen=True, slots=True)
class Written:
    """A version written as blobs but not yet tagged."""

    manifest: Manifest
    manifest_digest: str
    manifest_size: int
    card: ModelCard
    #: Files stored only because the pusher trusted them (for the store's history).
    trusted: tuple[TrustedFile, ...] = ()


def stage(path: Path, target: Reference, *, trust_unsafe_format: bool) -> Staged:
    """Collect and check the files at ``path``; UnsafeFormat for the first file not admitted
    as data, unless ``trust_unsafe_format``."""
    files = collect(path)
    check_titles(file.title for file in files)
    refused = refusals({file.title: file.path for file in files})
    if refused and not trust_unsafe_format:
        title, refusal = next(iter(refused.items()))
        raise UnsafeFormat(title, refusal.format, refusal.reason)
    return Staged(target, path, tuple(files), refused)


def check_card(staged: Staged, card: ModelCard) -> None:
    """InvalidArgument unless ``card`` describes ``staged``: its name, the trusted formats
    (``staged.trusted_formats``) and, for an LLM, only files the version holds."""
    if card.name != staged.target.name or card.trusted_unsafe_formats != staged.trusted_formats:
        raise InvalidArgument(
            f"the card does not describe the staged version: name {card.name!r} "
            f"(staged: {staged.target.name!r}), trusted_unsafe_formats "
            f"{list(card.trusted_unsafe_formats)} (staged: {list(staged.trusted_formats)})"
        )
    titles = {file.title for file in staged.files}
    strangers = [f.path for f in card.llm.files if f.path not in titles] if card.llm else []
    if strangers:
        raise InvalidArgument(
            f"the card's llm.files name files the staged version does not hold: {strangers}"
        )


def _layers(
    blobs: BlobStore,
    files: tuple[SourceFile, ...],
    card: ModelCard,
    progress: Progress | None,
    added: set[str],
    *,
    renewal: Renewal,
) -> list[Layer]:
    advance = Meter(sum(file.size for file in files), renewal.around(progress))
    described = {f.path: f for f in card.llm.files} if card.llm is not None else {}
    layers: list[Layer] = []
    for file in files:
        with file.path.open("rb") as source:
            digest, size = blobs.write(source, progress=advance, added=added)
        renewal.digests.add(digest)
        layers.append(layer(file.title, digest, size, described.get(file.title)))
    return layers


def write(
    blobs: BlobStore,
    staged: Staged,
    card: ModelCard,
    progress: Progress | None,
    added: set[str],
    *,
    renewal: Renewal,
) -> Written:
    """Store ``staged``'s files, then ``card``, then the manifest that binds them, as blobs.
    The files the card's ``llm`` section describes are annotated with their role and format.

    Each blob the store did not hold before goes into ``added`` as it is written, so that a
    push failing here or later (its upload) can remove exactly those (:func:`.gc.discard`).
    Each blob written goes into ``renewal``, which keeps it young until the push ends.
    """
    layers = _layers(blobs, staged.files, card, progress, added, renewal=renewal)
    trusted = tuple(
        TrustedFile(item.title, item.digest, staged.refused[item.title].format)
        for item in layers
        if item.title in staged.refused
    )
    config_digest, config_size = blobs.write_bytes(card.model_dump_json().encode(), added=added)
    renewal.digests.add(config_digest)
    # Nothing here may depend on when or where the push ran: the same files and card give the
    # same manifest digest (a reproducible build). ``created`` is set only when declared.
    annotations = {
        media.ANNOTATION_TITLE: staged.target.name,
        media.ANNOTATION_RUNTIME: card.runtime,
    }
    if card.created is not None:
        annotations[media.ANNOTATION_CREATED] = card.created.isoformat()
    if card.source_revision is not None:
        annotations[media.ANNOTATION_REVISION] = card.source_revision
    subject = None
    if card.llm is not None and card.llm.base is not None:  # an adapter refers to its base
        base = card.llm.base.rpartition("@")[2]
        subject = Descriptor(media.MANIFEST, base, blobs.size(base))
    manifest = Manifest(
        Descriptor(media.CARD, config_digest, config_size), tuple(layers), annotations, subject
    )
    digest, size = blobs.write_bytes(manifest.to_bytes(), added=added)
    renewal.digests.add(digest)
    return Written(manifest, digest, size, card, trusted)
