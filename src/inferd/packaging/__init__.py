"""Packaging: a model's files become a version in the store (``inferd push``).

It sits above the store, the runtimes and observe, which never import each other: the store
checks and stores the files, :mod:`inferd.runtimes.detect` tells the runtime and signature,
:mod:`inferd.observe.profile` summarises reference data for drift, and :func:`push` joins them.
"""

from inferd.packaging.metadata import METADATA_FILE, ModelMetadata, load_metadata
from inferd.packaging.push import CardOptions, describe, push, source_date

__all__ = [
    "METADATA_FILE",
    "CardOptions",
    "ModelMetadata",
    "describe",
    "load_metadata",
    "push",
    "source_date",
]
