"""What :class:`~inferd.store.ModelStore` operations return (immutable value objects)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from inferd.card import ModelCard
from inferd.reference import Reference


@dataclass(frozen=True, slots=True)
class Transfer:
    """What one push to or pull from a registry moved.

    ``blobs`` the version has; ``transferred`` were sent or received (``bytes_transferred``
    bytes over the network), ``skipped`` were already there, ``mounted`` were linked from
    another repository of the same registry without sending bytes.
    """

    digest: str
    blobs: int
    transferred: int
    skipped: int
    mounted: int = 0
    bytes_transferred: int = 0


@dataclass(frozen=True, slots=True)
class PushResult:
    """A pushed version: the tag written, its manifest digest, card, bytes and file count."""

    reference: Reference
    digest: str
    card: ModelCard
    size: int
    files: int
    transfer: Transfer | None = None
    """What went over the network, for a push to a registry."""


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
    size: int | None
    """Bytes of the version's files; None when ``error`` says they cannot be known."""
    created: datetime | None
    """When the version first got a tag in this store (its push, from the history), else its
    declared creation time (card or manifest annotation); None when neither exists (a
    registry's tag of a version built without ``SOURCE_DATE_EPOCH``, another tool's artifact)."""
    error: str | None = None
    """Why a local version cannot be read (a missing or corrupt manifest or card blob, a missing
    file blob); it is listed all the same, so that it can be found and removed or pushed again."""


@dataclass(frozen=True, slots=True)
class GcResult:
    """What garbage collection removed."""

    blobs_removed: int
    bytes_freed: int
    models_removed: int
    versions_evicted: int = 0
    """Cached remote versions evicted to meet ``max_size`` (0 without a budget)."""
    bytes_used: int | None = None
    """Bytes the store occupies afterwards, when a budget was given."""
    blobs_kept: int = 0
    """Unreferenced blobs kept because they are younger than the grace period (a push in
    progress may be using them); the next gc after it removes them."""
    bytes_kept: int = 0
