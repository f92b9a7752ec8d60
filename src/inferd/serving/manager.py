"""The model manager: what is loaded, keyed by (name, version), and how versions come and go.

- The first reference served for a name is its default version; ``load(name, ref)`` of another
  version warms it fully, then swaps the default pointer in one step. The version it replaced
  drains (queued and running batches finish) and only then unloads. Requests never see a gap.
- A failed load leaves whatever served before serving, records FAILED with the reason, and counts
  in ``inferd_model_load_failures_total``. The failed version stays in the index (and its state
  series at FAILED) until a later load of it succeeds. One model's failure never touches another.
- A reference the source does not hold (NotFound), or may not fetch (PermissionDenied: a
  registry off the server's allowlist), names no version the server knows: it raises and leaves
  no index row and no metrics series, so names sent to the control plane cannot grow either. A
  name it created is forgotten again.
- With ``memory_budget_bytes`` set, a load that would exceed it first unloads the least recently
  used idle versions (:mod:`inferd.serving.budget`). Such an evicted version loads again on its
  next request, which waits (within its deadline) for that load.

Every method runs on the event-loop thread; model code runs on each version's worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator, Sequence

from inferd.config import ServerSettings
from inferd.errors import (
    DeadlineExceeded,
    InferdError,
    InternalError,
    InvalidArgument,
    ModelNotFound,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from inferd.observe.metrics import ServerMetrics
from inferd.serving.artifact import LoadedArtifact, VersionKey
from inferd.serving.budget import EVICTED, BudgetBusy, Meter, make_room, resident_bytes, settle
from inferd.serving.entry import ModelEntry
from inferd.serving.loading import bring_up, take_down
from inferd.serving.source import Loaders
from inferd.serving.stats import VersionState
from inferd.serving.types import RepositoryEntry
from inferd.serving.version import ServedVersion

log = logging.getLogger(__name__)


class ModelManager:
    """Loads, serves, replaces and unloads model versions."""

    def __init__(
        self,
        loaders: Loaders,
        settings: ServerSettings,
        metrics: ServerMetrics,
        meter: Meter = resident_bytes,
    ) -> None:
        self._loaders = loaders
        self._settings = settings
        self._metrics = metrics
        #: Measures what each load adds to the process (see :mod:`inferd.serving.budget`).
        self._meter = meter
        self._models: dict[str, ModelEntry] = {}
        # One bring-up at a time keeps the memory arithmetic honest and start-up CPU bounded.
        self._bring_up_lock = asyncio.Lock()
        self._retiring: set[asyncio.Task[None]] = set()
        self.draining = False

    # -- queries -------------------------------------------------------------------------------

    def get(self, name: str, version: str | None = None) -> ServedVersion:
        """The version a request for ``name`` (and ``version``, default: the default) goes to."""
        entry = self._models.get(name)
        if entry is None or entry.unloaded:
            raise ModelNotFound(name, version)
        key = version if version is not None else entry.default
        if key is None:
            why = entry.why_not_ready()
            raise Unavailable(f"model {name!r} has no version ready: {why}", retry_after=5.0)
        served = entry.versions.get(key)
        if served is None:
            if entry.loading(key):
                raise Unavailable(f"model {name!r} version {key!r} is loading", retry_after=1.0)
            raise ModelNotFound(name, version)
        return served

    def knows(self, name: str) -> bool:
        return name in self._models

    def versions(self, name: str) -> list[ServedVersion]:
        entry = self._models.get(name)
        return list(entry.versions.values()) if entry is not None else []

    def all_versions(self) -> Iterator[ServedVersion]:
        """Every version holding (or about to hold) a model: served, retiring, loading."""
        for entry in self._models.values():
            yield from entry.versions.values()
            yield from entry.retiring
            if entry.attempt is not None:
                yield entry.attempt

    def index(self) -> list[RepositoryEntry]:
        """Repository index rows, one per known version (see :class:`ModelEntry`)."""
        return [row for entry in self._models.values() for row in entry.rows()]

    def ready(self) -> bool:
        """Not draining, and every served model's default version serving (or evicted by the
        memory budget, which loads on demand)."""
        return not self.draining and all(entry.ready() for entry in self._models.values())

    def live(self) -> bool:
        """Every loaded version's worker thread is alive."""
        return all(v.worker.alive for v in self.all_versions() if v.worker is not None)

    # -- control -------------------------------------------------------------------------------

    def expect(self, references: Sequence[str]) -> dict[str, list[str]]:
        """Register the names ``references`` serve, before anything loads, and group them by
        name. A server calls this before its listeners open: an empty table reads as ready,
        a registered name without a default version does not. A reference that breaks the
        grammar raises here."""
        per_name: dict[str, list[str]] = {}
        for reference in references:
            key = self._loaders.source.identify(reference)
            per_name.setdefault(key.name, []).append(reference)
        for name, refs in per_name.items():
            entry = self._entry(name, refs[0])
            entry.wanted = True
            entry.pending.update(self._loaders.source.identify(r).version for r in refs)
        return per_name

    async def serve(self, references: Sequence[str]) -> list[tuple[str, InferdError]]:
        """Load every reference; the first one per name becomes that name's default version.

        Returns the references that failed, with their errors. A failure is recorded (FAILED,
        with the reason, for a version the store holds) and does not stop the others. A
        reference that breaks the grammar raises before anything loads.
        """
        per_name = self.expect(references)
        failed = await asyncio.gather(
            *(self._serve_name(name, refs) for name, refs in per_name.items())
        )
        return [failure for failures in failed for failure in failures]

    async def _serve_name(self, name: str, references: list[str]) -> list[tuple[str, InferdError]]:
        entry = self._entry(name, references[0])
        failures: list[tuple[str, InferdError]] = []
        for position, reference in enumerate(references):
            try:
                await self._load(entry, reference, make_default=position == 0)
            except InferdError as exc:
                failures.append((reference, exc))
            finally:
                entry.pending.discard(self._loaders.source.identify(reference).version)
        return failures

    async def load(self, name: str, reference: str | None = None) -> None:
        """Load ``reference`` (default: re-resolve the one ``name`` was served from, or ``name``
        itself, its ``latest`` tag, for one not served yet) and make it the default once warm.
        Same digest as the serving version: nothing happens."""
        entry = self._models.get(name)
        if entry is None:
            entry = self._entry(name, name if reference is None else reference)
        entry.loads += 1
        try:
            await self._load(entry, reference or entry.reference, make_default=True)
        finally:
            entry.loads -= 1
            if entry.vacant() and self._models.get(name) is entry:
                del self._models[name]  # its reference was not found: nothing is known of it

    async def unload(self, name: str) -> None:
        """Unload every version of ``name`` after its in-flight work; it stays in the index."""
        entry = self._models.get(name)
        if entry is None:
            raise ModelNotFound(name)
        async with entry.lock:
            entry.unloaded = True
            entry.default = None
            await asyncio.gather(
                *(
                    take_down(v, VersionState.UNAVAILABLE, "unloaded")
                    for v in entry.versions.values()
                )
            )

    async def ensure_serving(self, served: ServedVersion, deadline: float) -> None:
        """Return once ``served`` can take requests, loading an evicted version on demand."""
        if served.serving:
            return
        if served.loading is None:
            if not served.evicted:
                dead = served.state is VersionState.READY  # READY but no live worker thread
                why = "its worker thread stopped" if dead else served.reason or "not loaded"
                raise Unavailable(f"{served.label} cannot serve: {why}", retry_after=1.0)
            served.loading = asyncio.ensure_future(self._reload(served))
        try:
            await asyncio.wait_for(asyncio.shield(served.loading), deadline - time.monotonic())
        except TimeoutError:
            raise DeadlineExceeded(f"deadline passed while {served.label} was loading") from None

    def begin_drain(self) -> None:
        """Report not-ready from now on; requests are still served."""
        self.draining = True

    async def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for queued, running and retiring work; True if all finished."""

        async def settle() -> None:
            await asyncio.gather(
                *(v.batcher.drain() for v in self.all_versions() if v.batcher is not None),
                *self._retiring,
            )

        try:
            await asyncio.wait_for(settle(), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self, drained: bool = True) -> None:
        """Unload everything: the server is stopping (``drained``: what :meth:`drain` said)."""
        for entry in self._models.values():
            async with entry.lock:
                stopped = (
                    take_down(v, VersionState.UNAVAILABLE, "server stopped", wait=drained)
                    for v in entry.versions.values()
                )
                await asyncio.gather(*stopped)
        await asyncio.gather(*self._retiring)

    # -- internals -----------------------------------------------------------------------------

    def _entry(self, name: str, reference: str) -> ModelEntry:
        entry = self._models.get(name)
        if entry is None:
            entry = self._models[name] = ModelEntry(name, reference)
        return entry

    def _watch(self, served: ServedVersion) -> None:
        key = served.key
        self._metrics.watch_state(key.name, key.version, lambda: self._state_of(key))
        self._metrics.watch_memory(key.name, key.version, lambda: self._memory_of(key))
        batcher = served.batcher
        if batcher is not None:
            self._metrics.watch_queue(
                key.name, key.version, lambda: batcher.queued, lambda: batcher.inflight
            )

    def _state_of(self, key: VersionKey) -> str:
        served = self._known(key)
        return served.state.value if served is not None else VersionState.UNAVAILABLE.value

    def _memory_of(self, key: VersionKey) -> float:
        served = self._known(key)
        return float(served.memory) if served is not None else 0.0

    def _known(self, key: VersionKey) -> ServedVersion | None:
        entry = self._models.get(key.name)
        return entry.known(key) if entry is not None else None

    async def _load(self, entry: ModelEntry, reference: str, *, make_default: bool) -> None:
        async with entry.lock:
            key = self._loaders.source.identify(reference)
            if key.name != entry.name:
                raise InvalidArgument(
                    f"reference {reference!r} names model {key.name!r}, not {entry.name!r}"
                )
            artifact = await self._fetch(entry, key, reference)
            current = entry.versions.get(key.version)
            if current is not None and current.serves(artifact.digest):
                entry.failed.pop(key.version, None)  # the same bytes already serve as it
            else:
                attempt = entry.attempt = ServedVersion(key, self._metrics)
                attempt.artifact = artifact
                attempt.set_state(VersionState.LOADING)
                self._watch(attempt)
                try:
                    await self._bring_up(attempt)
                except InferdError:
                    self._failed(entry, attempt)
                    raise
                finally:
                    entry.attempt = None
                entry.failed.pop(key.version, None)
                entry.versions[key.version] = attempt
                if current is not None:
                    self._retire(entry, current)
            entry.unloaded = False
            entry.missing = ""
            if make_default:
                entry.reference = reference
                previous, entry.default = entry.default, key.version
                if previous is not None and previous != key.version:
                    self._retire(entry, entry.versions.pop(previous))

    async def _fetch(self, entry: ModelEntry, key: VersionKey, reference: str) -> LoadedArtifact:
        """The artifact of ``reference``.

        A reference the source does not hold or may not fetch raises NotFound or
        PermissionDenied and leaves nothing behind (``key`` may be a version that serves from
        elsewhere: a refused ``host/name:v1`` says nothing of the local ``name:v1``); any
        other failure records ``key`` as FAILED (a version that exists but cannot be fetched).
        """
        entry.fetching = key.version
        try:
            return await asyncio.to_thread(self._loaders.source.fetch, reference)
        except (NotFound, PermissionDenied) as exc:
            entry.missing = f"{reference}: {exc.message}"
            raise
        except Exception as exc:
            if isinstance(exc, InferdError):
                error = exc
            else:
                log.exception("fetching %s failed", reference)
                label = f"{key.name}:{key.version}"
                error = InternalError(f"fetching {label} failed ({type(exc).__name__})")
            failed = ServedVersion(key, self._metrics)
            failed.set_state(VersionState.FAILED, error.message)
            self._metrics.load_finished(key.name, key.version, 0.0, ok=False)
            self._failed(entry, failed)
            raise error from None
        finally:
            entry.fetching = None

    def _failed(self, entry: ModelEntry, attempt: ServedVersion) -> None:
        """Keep a failed version in the index (latest last), its state series at FAILED."""
        entry.failed.pop(attempt.key.version, None)
        entry.failed[attempt.key.version] = attempt
        self._watch(attempt)

    def _retire(self, entry: ModelEntry, old: ServedVersion) -> None:
        """Drain and unload a replaced version in the background; requests already go elsewhere."""

        async def retire() -> None:
            await take_down(old, VersionState.UNAVAILABLE, "replaced")
            entry.retiring.remove(old)
            if self._known(old.key) is None:
                self._metrics.forget(old.key.name, old.key.version)

        old.set_state(VersionState.UNLOADING)
        if old.batcher is not None:
            # At once rather than in the task: what it holds must not wait for rows that now go
            # to the new version (see the batcher's policy).
            old.batcher.close()
        entry.retiring.append(old)
        task = asyncio.ensure_future(retire())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _reload(self, served: ServedVersion) -> None:
        try:
            await self._bring_up(served)
        except BudgetBusy:  # not failed: still evicted, a request once others idle loads it
            served.set_state(VersionState.UNAVAILABLE, EVICTED)
            raise
        except InferdError:
            served.evicted = False  # do not retry on every request; the index shows why
            raise
        finally:
            served.loading = None

    async def _bring_up(self, served: ServedVersion) -> None:
        budget = self._settings.memory_budget_bytes
        async with self._bring_up_lock:
            if budget is not None:
                try:
                    await make_room(served, budget, self.all_versions)
                except InferdError as exc:
                    served.set_state(VersionState.FAILED, exc.message)
                    self._metrics.load_finished(served.key.name, served.key.version, 0.0, ok=False)
                    raise
            await self._measured_bring_up(served)
            if budget is not None:
                try:
                    await settle(served, budget, self.all_versions)
                except InferdError as exc:
                    await take_down(served, VersionState.FAILED, exc.message)
                    self._metrics.load_refused(served.key.name, served.key.version)
                    raise
        self._watch(served)

    async def _measured_bring_up(self, served: ServedVersion) -> None:
        """Bring ``served`` up and record how much resident memory its load added."""
        if served.artifact is not None:
            # The framework's import (once per process) is not this version's memory; a runtime
            # that cannot be resolved fails again, and is reported, in bring_up.
            with contextlib.suppress(InferdError):
                await asyncio.to_thread(self._loaders.runtime, served.artifact.card.runtime)
        before = self._meter()
        await bring_up(served, self._loaders, self._settings.batching, self._metrics)
        after = self._meter()
        if before is not None and after is not None:
            served.resident_growth = max(after - before, 0)
        log.info("%s holds about %.1f MiB", served.label, served.memory / 2**20)
