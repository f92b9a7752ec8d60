"""Control-plane loads of one name and reference that overlap share one fetch and one load, and
its outcome; a failure is not kept, a caller that leaves fails no other, and ``close`` stops a
load under way. The real store and ONNX runtime; the source only counts and gates fetches."""

from __future__ import annotations

import asyncio
import threading

import pytest

from inferd.config import ServerSettings
from inferd.errors import NotFound
from inferd.observe.metrics import ServerMetrics
from inferd.runtimes.warmup import warmup_inputs
from inferd.serving.artifact import LoadedArtifact, VersionKey
from inferd.serving.dataplane import ServingDataPlane
from inferd.serving.manager import ModelManager
from inferd.serving.source import Loaders, StoreSource

from .conftest import Harness, ProbeRuntime, request

LOADS = 10


class GatedSource:
    """The store's own source; each fetch is recorded, then waits for ``gate``."""

    def __init__(self, inner: StoreSource) -> None:
        self.inner = inner
        self.fetched: list[str] = []
        self.entered = threading.Event()
        self.gate = threading.Event()

    def identify(self, reference: str) -> VersionKey:
        return self.inner.identify(reference)

    def fetch(self, reference: str) -> LoadedArtifact:
        self.fetched.append(reference)
        self.entered.set()
        assert self.gate.wait(30), "the test never opened the gate"
        return self.inner.fetch(reference)


def _plane(harness: Harness) -> tuple[ServingDataPlane, GatedSource, ServerMetrics]:
    source = GatedSource(StoreSource(harness.store))
    loaders = Loaders(
        source=source, runtime=lambda _: ProbeRuntime(harness.probe), warmup_inputs=warmup_inputs
    )
    settings, metrics = ServerSettings(), ServerMetrics()
    manager = ModelManager(loaders, settings, metrics)
    return ServingDataPlane(manager, metrics, settings), source, metrics


def _loads_ended(metrics: ServerMetrics, version: str) -> float:
    prefix = f'inferd_model_load_duration_seconds_count{{model="m",version="{version}"}} '
    lines = [x for x in metrics.render().decode().splitlines() if x.startswith(prefix)]
    return float(lines[0].removeprefix(prefix)) if lines else 0.0


async def _overlapping(
    plane: ServingDataPlane, source: GatedSource, reference: str
) -> list[asyncio.Future[None]]:
    """Start ``LOADS`` loads; return once the first fetch is under way (and the rest waiting)."""
    loads = [asyncio.ensure_future(plane.load("m", reference)) for _ in range(LOADS)]
    assert await asyncio.to_thread(source.entered.wait, 30)
    return loads


def test_overlapping_loads_share_one_fetch_and_one_load(harness: Harness) -> None:
    harness.push("m:v1")

    async def main() -> None:
        plane, source, metrics = _plane(harness)
        try:
            loads = await _overlapping(plane, source, "m:v1")
            source.gate.set()
            await asyncio.gather(*loads)
            assert source.fetched == ["m:v1"]
            assert _loads_ended(metrics, "v1") == 1
            assert (await plane.infer(request())).model_version == "v1"
            # One that comes after resolves the reference again; the same bytes do not reload.
            await plane.load("m", "m:v1")
            assert source.fetched == ["m:v1", "m:v1"]
            assert _loads_ended(metrics, "v1") == 1
        finally:
            source.gate.set()
            await plane.close()

    asyncio.run(main())


def test_a_failure_is_shared_by_the_overlapping_loads_and_not_kept(harness: Harness) -> None:
    async def main() -> None:
        plane, source, metrics = _plane(harness)
        try:
            loads = await _overlapping(plane, source, "m:v1")
            source.gate.set()
            outcomes = await asyncio.gather(*loads, return_exceptions=True)
            assert all(isinstance(o, NotFound) for o in outcomes), outcomes
            assert len({str(o) for o in outcomes}) == 1
            assert source.fetched == ["m:v1"]
            harness.push("m:v1")
            await plane.load("m", "m:v1")
            assert source.fetched == ["m:v1", "m:v1"]
            assert _loads_ended(metrics, "v1") == 1
            assert plane.model_ready("m")
        finally:
            source.gate.set()
            await plane.close()

    asyncio.run(main())


def test_a_caller_that_leaves_fails_no_other(harness: Harness) -> None:
    harness.push("m:v1")

    async def main() -> None:
        plane, source, metrics = _plane(harness)
        try:
            first, *others = await _overlapping(plane, source, "m:v1")
            first.cancel()  # the caller that started the load goes away
            source.gate.set()
            await asyncio.gather(*others)
            with pytest.raises(asyncio.CancelledError):
                await first
            assert source.fetched == ["m:v1"]
            assert _loads_ended(metrics, "v1") == 1
            assert plane.model_ready("m")
        finally:
            source.gate.set()
            await plane.close()

    asyncio.run(main())


def test_close_stops_a_load_under_way(harness: Harness) -> None:
    harness.push("m:v1")

    async def main() -> None:
        plane, source, metrics = _plane(harness)
        try:
            loads = await _overlapping(plane, source, "m:v1")
            await asyncio.wait_for(plane.close(), 10)
            outcomes = await asyncio.gather(*loads, return_exceptions=True)
            assert all(isinstance(o, asyncio.CancelledError) for o in outcomes), outcomes
            assert plane.repository_index() == []
            assert _loads_ended(metrics, "v1") == 0
        finally:
            source.gate.set()  # the fetch thread ends before asyncio.run waits for it

    asyncio.run(main())
