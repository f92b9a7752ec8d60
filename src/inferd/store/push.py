"""Packaging a model directory or file into blobs: card, layers and manifest.

This writes only content-addressed blobs, without the store lock; a version becomes visible only
when :class:`~inferd.store.ModelStore` then tags its manifest under the lock. Checks run before
any byte is stored: symlinks and unsafe titles (:mod:`inferd.store.files`), files not admitted as
data (:mod:`inferd.store.admission`; stored only when the pusher trusts them), then runtime and
signature detection.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from inferd.card import ModelCard, Signature
from inferd.errors import UnsafeFormat
from inferd.observe.profile import check_profile, read_reference_data
from inferd.reference import Reference
from inferd.runtimes.detect import detect_model
from inferd.store import media
from inferd.store.admission import refusals
from inferd.store.blobs import BlobStore
from inferd.store.dataformats import Refusal
from inferd.store.files import ModelMetadata, SourceFile, collect, find_metadata, load_metadata
from inferd.store.manifest import Descriptor, Layer, Manifest, check_titles, layer
from inferd.store.trust import TrustedFile


@dataclass(frozen=True, slots=True)
class PushOptions:
    """Everything a push takes beyond the path and reference (see ``ModelStore.push``)."""

    runtime: str | None = None
    signature: Signature | None = None
    trust_unsafe_format: bool = False
    labels: Mapping[str, str] | None = None
    source_revision: str | None = None
    metadata: Path | None = None
    #: Training rows (.npy, .npz or CSV) to compute the card's reference profile from.
    reference_data: Path | None = None
    progress: Callable[[int, int], None] | None = None


@dataclass(frozen=True, slots=True)
class Packaged:
    """A version written as blobs but not yet tagged."""

    manifest: Manifest
    manifest_digest: str
    manifest_size: int
    card: ModelCard
    #: Files stored only because the pusher trusted them (for the store's history).
    trusted: tuple[TrustedFile, ...] = ()


def _refusals(files: list[SourceFile], trusted: bool) -> dict[str, Refusal]:
    """The files not admitted, by title; UnsafeFormat for the first unless ``trusted``."""
    refused = refusals({file.title: file.path for file in files})
    if refused and not trusted:
        title, refusal = next(iter(refused.items()))
        raise UnsafeFormat(title, refusal.format, refusal.reason)
    return refused


def _card(path: Path, ref: Reference, options: PushOptions, trusted: tuple[str, ...]) -> ModelCard:
    file = options.metadata if options.metadata is not None else find_metadata(path)
    meta = load_metadata(file) if file is not None else ModelMetadata()
    detection = detect_model(path, options.runtime or meta.runtime, entrypoint=meta.entrypoint)
    # Precedence: what the caller passed, then what the model format declares, then the YAML.
    signature = options.signature or detection.signature or meta.signature or Signature()
    profile = meta.reference_profile
    if options.reference_data is not None:
        profile = read_reference_data(options.reference_data, signature)
    elif profile is not None:
        check_profile(profile, signature)
    return ModelCard(
        name=ref.name,
        runtime=detection.runtime,
        signature=signature,
        labels={**meta.labels, **(options.labels or {})},
        metrics=meta.metrics,
        source_revision=options.source_revision,
        entrypoint=detection.entrypoint,
        trusted_unsafe_formats=trusted,
        reference_profile=profile,
    )


def _layers(blobs: BlobStore, files: list[SourceFile], options: PushOptions) -> list[Layer]:
    total = sum(file.size for file in files)
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        if options.progress is not None:
            options.progress(done, total)

    layers: list[Layer] = []
    for file in files:
        with file.path.open("rb") as source:
            digest, size = blobs.write(source, progress=advance)
        layers.append(layer(file.title, digest, size))
    return layers


def package(blobs: BlobStore, path: Path, ref: Reference, options: PushOptions) -> Packaged:
    """Check, describe and store the files at ``path`` as blobs of a new version of ``ref``."""
    files = collect(path)
    check_titles(file.title for file in files)
    refused = _refusals(files, options.trust_unsafe_format)
    card = _card(path, ref, options, tuple(sorted({r.format for r in refused.values()})))
    layers = _layers(blobs, files, options)
    trusted = tuple(
        TrustedFile(item.title, item.digest, refused[item.title].format)
        for item in layers
        if item.title in refused
    )
    config_digest, config_size = blobs.write_bytes(card.model_dump_json().encode())
    annotations = {
        media.ANNOTATION_CREATED: card.created.isoformat(),
        media.ANNOTATION_TITLE: ref.name,
        media.ANNOTATION_RUNTIME: card.runtime,
    }
    if card.source_revision is not None:
        annotations[media.ANNOTATION_REVISION] = card.source_revision
    manifest = Manifest(
        Descriptor(media.CARD, config_digest, config_size), tuple(layers), annotations
    )
    digest, size = blobs.write_bytes(manifest.to_bytes())
    return Packaged(manifest, digest, size, card, trusted)
