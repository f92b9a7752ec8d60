"""One model version as the manager holds it: its artifact, its state and, when loaded, its model.

A :class:`ServedVersion` is created for every load attempt. While READY it owns a model, the
worker thread the model runs on, and the batcher in front of it; unloading releases all three
but keeps the artifact, so an evicted version can come back on its first request.
"""

from __future__ import annotations

import asyncio
import functools
import time
from pathlib import Path

from inferd.errors import InferdError
from inferd.generation import TextGenerator
from inferd.observe.metrics import ServerMetrics, VersionMetrics
from inferd.runtimes.base import MayBeUnavailable, Model
from inferd.runtimes.xgboost import XGBoostRuntime
from inferd.runtimes.xgboost import model_format as xgboost_format
from inferd.serving.artifact import LoadedArtifact, VersionKey
from inferd.serving.batcher import Batcher
from inferd.serving.signature import SignatureCheck
from inferd.serving.stats import VersionState, VersionStats
from inferd.serving.types import RepositoryEntry
from inferd.serving.worker import ModelWorker

#: OIP platform names (``<project>_<format>``) for inferd's runtimes that read one format;
#: xgboost's is its file's (:func:`platform`), other runtimes' their name.
PLATFORMS = {
    "onnx": "onnx_onnxv1",
    "sklearn": "sklearn_skops",
    "lightgbm": "lightgbm_txt",
    "python": "python_class",
}


@functools.lru_cache(maxsize=256)
def platform(runtime: str, path: Path, entrypoint: str | None) -> str:
    """The OIP platform of the version whose files are at ``path``: the format it serves, read
    from the file where the runtime reads two (``xgboost_json``, ``xgboost_ubj``). Cached: a
    version's files never change (their directory is named by its digest)."""
    if runtime != XGBoostRuntime.name:
        return PLATFORMS.get(runtime, runtime)
    try:
        return f"xgboost_{xgboost_format(path, entrypoint)}"
    except (InferdError, OSError):  # not an XGBoost model: its load failed, metadata answers
        return runtime


class ServedVersion:
    """A (name, version) the manager knows, in one of the :class:`VersionState` states.

    ``evicted`` marks a version unloaded to respect the memory budget: it loads again on its first
    request. Other UNAVAILABLE versions (explicitly unloaded) do not.
    """

    def __init__(self, key: VersionKey, metrics: ServerMetrics) -> None:
        self.key = key
        #: The deadline, in seconds, of a request to it that sets none of its own, resolved
        #: from ``ServerSettings.request_timeout_for`` on its first request by the data plane
        #: (settings are frozen; the call and its lookup would cost every request).
        self.request_timeout_s: float | None = None
        self.state = VersionState.UNAVAILABLE
        self.reason = ""
        self.artifact: LoadedArtifact | None = None
        self.check: SignatureCheck | None = None
        self.model: Model | None = None
        #: :attr:`model` when it is a language model, decided once at load: an ``isinstance``
        #: of the runtime-checkable protocol costs ~80 Python calls, too dear per request.
        self.generator: TextGenerator | None = None
        self.worker: ModelWorker | None = None
        self.batcher: Batcher | None = None
        self.evicted = False
        #: Resident memory (bytes) the process grew by across its latest load, when measured.
        self.resident_growth: int | None = None
        self.last_used = time.monotonic()
        #: Wall-clock seconds of its latest load's end (OpenAI's ``created`` when the card
        #: declares no build time); 0 before it was ever ready.
        self.ready_at = 0
        self.stats = VersionStats()
        self.metrics: VersionMetrics = metrics.bind(key.name, key.version)
        #: Set while a load is under way, so concurrent first requests share it.
        self.loading: asyncio.Future[None] | None = None

    @property
    def label(self) -> str:
        """``name:version``, used in messages and logs."""
        return f"{self.key.name}:{self.key.version}"

    @property
    def size(self) -> int:
        """Estimated host memory while loaded: the larger of the resident memory its latest load
        added and its files' size (only the files' size before it was ever loaded)."""
        files = self.artifact.size if self.artifact is not None else 0
        return max(files, self.resident_growth or 0)

    @property
    def memory(self) -> int:
        """What it holds now: :attr:`size` while it holds a model, else 0."""
        return self.size if self.holds_memory else 0

    @property
    def holds_memory(self) -> bool:
        return self.model is not None or self.state is VersionState.LOADING

    @property
    def serving(self) -> bool:
        """READY with a live worker: requests can be queued now."""
        return (
            self.state is VersionState.READY
            and self.batcher is not None
            and self.worker is not None
            and self.worker.alive
        )

    @property
    def ready(self) -> bool:
        """:attr:`serving`, and its model can take a call now: a sandboxed model's worker is
        up (not dead and held back by the restart backoff). What readiness reports."""
        model = self.model
        return self.serving and (not isinstance(model, MayBeUnavailable) or model.available)

    @property
    def busy(self) -> bool:
        """Work under way: a batch running, or a language model's generations (which do not
        pass through the batcher). A busy version is never evicted."""
        if self.batcher is not None and self.batcher.inflight:
            return True
        return self.generator is not None and self.generator.load() != (0, 0)

    def serves(self, digest: str) -> bool:
        """Serving the version whose manifest is ``digest`` (a reload of it changes nothing)."""
        return self.serving and self.artifact is not None and self.artifact.digest == digest

    def set_state(self, state: VersionState, reason: str = "") -> None:
        self.state = state
        self.reason = reason

    def platform(self) -> str:
        artifact = self.artifact
        if artifact is None:
            return ""
        return platform(artifact.card.runtime, artifact.path, artifact.card.entrypoint)

    def index_entry(self) -> RepositoryEntry:
        """Its row of the repository index (OIP model-repository extension)."""
        return RepositoryEntry(self.key.name, self.key.version, self.state, self.reason)
