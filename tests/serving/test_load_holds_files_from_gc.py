"""``inferd gc --max-size`` run by cron beside ``inferd serve``: a version being loaded is in use,
so gc leaves its materialized files in place until the load has read them (it removed them from
under the runtime before, and the load failed); and a version whose files gc removed between
the fetch and the load (a reload after an eviction) is materialized again by its digest."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar

from inferd.card import ModelCard
from inferd.config import ServerSettings
from inferd.observe.metrics import ServerMetrics
from inferd.runtimes.base import LoadOptions, Model
from inferd.runtimes.onnx import OnnxRuntime
from inferd.runtimes.warmup import warmup_inputs
from inferd.serving.manager import ModelManager
from inferd.serving.source import Loaders, StoreSource
from inferd.store import ModelStore

from .conftest import Harness


class GcDuringLoad:
    """The ONNX runtime, with a ``gc --max-size 1`` (evict everything evictable) run after
    the files were materialized and before the runtime reads them."""

    name: ClassVar[str] = "onnx"

    def __init__(self, store: ModelStore, seen: list[bool]) -> None:
        self._store, self._seen = store, seen
        self._onnx = OnnxRuntime()

    def load(self, path: Path, card: ModelCard, options: LoadOptions) -> Model:
        self._store.gc(max_size=1)
        self._seen.append(path.is_dir())
        return self._onnx.load(path, card, options)


def _serve(harness: Harness, runtime: object) -> None:
    async def main() -> None:
        loaders = Loaders(
            source=StoreSource(harness.store),
            runtime=lambda _n: runtime,
            warmup_inputs=warmup_inputs,
        )
        manager = ModelManager(loaders, ServerSettings(), ServerMetrics())
        try:
            await manager.load("m", "m:v1")
            assert manager.get("m").serving
        finally:
            await manager.close()

    asyncio.run(main())


def test_gc_keeps_the_files_a_load_is_reading(harness: Harness) -> None:
    harness.push("m:v1")
    seen: list[bool] = []

    _serve(harness, GcDuringLoad(harness.store, seen))

    assert seen == [True]
    digest = harness.store.resolve("m:v1").digest
    directory = harness.store.models / digest.removeprefix("sha256:")
    harness.store.gc(max_size=1)  # the load is over: nothing holds them now
    assert not directory.exists()


class GcBeforeLoad:
    """The ONNX runtime; resolving it (after the fetch, before the load) runs a gc that
    removes the fetched files."""

    name: ClassVar[str] = "onnx"

    def __init__(self, store: ModelStore) -> None:
        self._store = store
        self._onnx = OnnxRuntime()

    def __call__(self) -> GcBeforeLoad:
        self._store.gc(max_size=1)
        return self

    def load(self, path: Path, card: ModelCard, options: LoadOptions) -> Model:
        return self._onnx.load(path, card, options)


def test_files_gc_removed_since_the_fetch_are_materialized_again(harness: Harness) -> None:
    harness.push("m:v1")
    runtime = GcBeforeLoad(harness.store)

    async def main() -> None:
        loaders = Loaders(
            source=StoreSource(harness.store),
            runtime=lambda _n: runtime(),
            warmup_inputs=warmup_inputs,
        )
        manager = ModelManager(loaders, ServerSettings(), ServerMetrics())
        try:
            await manager.load("m", "m:v1")
            assert manager.get("m").serving
        finally:
            await manager.close()

    asyncio.run(main())
