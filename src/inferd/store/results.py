"""What :class:`~inferd.store.ModelStore` operations return (immutable value objects)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from inferd.card import ModelCard
from inferd.store.reference import Reference


@dataclass(frozen=True, slots=True)
class PushResult:
    """A pushed version: the tag written, its manifest digest, card, bytes and file count."""

    reference: Reference
    digest: str
    card: ModelCard
    size: int
    files: int


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """A reference resolved to a manifest digest; ``size`` is the bytes of its files."""

    reference: Reference
    digest: str
    card: ModelCard
    size: int


@dataclass(frozen=True, slots=True)
class MaterializedModel:
    """A version's verified files in a read-only, content-addressed directory."""

    path: Path
    digest: str
    card: ModelCard
    size: int


@dataclass(frozen=True, slots=True)
class TagEntry:
    """One row of ``inferd ls``."""

    name: str
    tag: str
    digest: str
    runtime: str
    size: int
    created: datetime


@dataclass(frozen=True, slots=True)
class GcResult:
    """What garbage collection removed."""

    blobs_removed: int
    bytes_freed: int
    models_removed: int
