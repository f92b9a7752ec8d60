"""Where the manager gets model versions from: a small seam over the store.

The manager never touches the store class; it asks a :class:`ModelSource` what a reference names
and for the files of a version. :class:`StoreSource` is the implementation over the local
:class:`~inferd.store.ModelStore`; tests and embedders can supply their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from inferd.card import Signature
from inferd.datatypes import Tensors
from inferd.runtimes.base import LoadOptions, Runtime
from inferd.runtimes.warmup import KnownValues
from inferd.serving.artifact import LoadedArtifact, VersionKey
from inferd.serving.trust import CodeTrust
from inferd.store import ModelStore, Reference

#: How many hex digits of a digest name a version referenced by digest alone.
DIGEST_VERSION_CHARS = 12


class ModelSource(Protocol):
    """Resolves references to versions and fetches their files."""

    def identify(self, reference: str) -> VersionKey:
        """Name and version of ``reference`` (version = its tag, else the digest's first 12 hex
        digits). Pure parsing; raises InvalidReference."""
        ...

    def fetch(self, reference: str) -> LoadedArtifact:
        """Resolve ``reference`` now (an alias may have moved) and return verified local files.

        Blocking I/O: the manager calls it off the event loop. Raises NotFound, IntegrityError.
        """
        ...


@dataclass(frozen=True, slots=True)
class Loaders:
    """Everything the manager needs to turn a reference into a warm model."""

    source: ModelSource
    #: Runtime by name (``inferd.runtimes.registry.get_runtime`` in the server).
    runtime: Callable[[str], Runtime]
    #: Warm-up inputs for a signature (rows, strings the model knows), run once before a
    #: version takes traffic (``inferd.runtimes.warmup.warmup_inputs`` in the server).
    warmup_inputs: Callable[[Signature, int, KnownValues], Tensors]
    options: LoadOptions = field(default_factory=LoadOptions)
    #: Whose code may run (``options.trust_code`` is set per version from it).
    trust: CodeTrust = field(default_factory=CodeTrust)


class StoreSource:
    """A :class:`ModelSource` over the local model store."""

    def __init__(self, store: ModelStore) -> None:
        self._store = store

    def identify(self, reference: str) -> VersionKey:
        ref = Reference.parse(reference)
        if ref.tag is not None:
            return VersionKey(ref.name, ref.tag)
        assert ref.digest is not None  # the grammar gives a tag, a digest, or both
        return VersionKey(ref.name, ref.digest.removeprefix("sha256:")[:DIGEST_VERSION_CHARS])

    def fetch(self, reference: str) -> LoadedArtifact:
        key = self.identify(reference)
        model = self._store.materialize(reference)
        return LoadedArtifact(key, reference, model.path, model.digest, model.card, model.size)
