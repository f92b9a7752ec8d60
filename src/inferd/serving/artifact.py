"""What the manager knows of a model version before a runtime loads it: the name and version a
reference serves as (:class:`VersionKey`) and its verified files on disk (:class:`LoadedArtifact`).

Below both :mod:`~inferd.serving.source` (which makes them) and :mod:`~inferd.serving.trust`
(which decides whether an artifact's code may run), so neither imports the other for them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from inferd.card import ModelCard


@dataclass(frozen=True, slots=True)
class VersionKey:
    """What a reference names, without any I/O: the model name and the version it serves as."""

    name: str
    version: str


@dataclass(frozen=True, slots=True)
class LoadedArtifact:
    """A version's verified files on local disk, ready for a runtime to load.

    ``size`` is the bytes of its files, which the manager uses as its memory estimate.
    """

    key: VersionKey
    reference: str
    path: Path
    digest: str
    card: ModelCard
    size: int
