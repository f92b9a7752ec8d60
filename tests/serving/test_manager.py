"""The model manager: hot swap under load, failed loads, memory budget, aliases, drain."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pytest

from inferd.errors import DeadlineExceeded, InferdError, ModelNotFound, Unavailable
from inferd.observe.metrics import ServerMetrics
from inferd.serving.budget import EVICTED
from inferd.serving.dataplane import ServingDataPlane
from inferd.serving.manager import ModelManager
from inferd.serving.stats import VersionState
from inferd.serving.types import RepositoryEntry

from .conftest import Harness, request, rows

Scenario = Callable[[ServingDataPlane, ModelManager, ServerMetrics], Awaitable[None]]


def _run(harness: Harness, refs: list[str], scenario: Scenario, **settings: Any) -> None:
    async def main() -> None:
        plane, manager, metrics = harness.plane(**settings)
        await manager.serve(refs)
        try:
            await scenario(plane, manager, metrics)
        finally:
            harness.probe.release()
            await plane.close()

    asyncio.run(main())


def _row(plane: ServingDataPlane, model: str, version: str) -> RepositoryEntry:
    return next(r for r in plane.repository_index() if (r.name, r.version) == (model, version))


def _sample(metrics: ServerMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_hot_swap_under_concurrent_load_drops_nothing(harness: Harness) -> None:
    harness.push("m:v1", factor=2.0)
    harness.push("m:v2", factor=3.0)

    async def scenario(plane: ServingDataPlane, manager: ModelManager, _: ServerMetrics) -> None:
        stop = asyncio.Event()
        answered: list[tuple[str | None, float]] = []
        by_client: dict[int, list[str | None]] = {}

        async def client(offset: float) -> None:
            mine = by_client.setdefault(int(offset), [])
            while not stop.is_set():
                response = await plane.infer(request(x=rows(1, offset)))
                factor = float(response.outputs[0].data[0, 1] / (offset + 1))
                answered.append((response.model_version, factor))
                mine.append(response.model_version)

        async def answered_more_than(count: int) -> None:
            while len(answered) <= count:
                await asyncio.sleep(0.001)

        clients = [asyncio.ensure_future(client(float(i))) for i in range(8)]
        await asyncio.wait_for(answered_more_than(50), 30)
        await plane.load("m", "m:v2")
        after = len(answered)
        before = {c: len(versions) for c, versions in by_client.items()}
        await asyncio.wait_for(answered_more_than(after + 100), 30)
        stop.set()
        await asyncio.gather(*clients)  # any failed request would raise here

        # Once the swap returned, each client has at most its one in-flight request answered by
        # v1 (the two versions' answers may interleave across clients), then only v2.
        for c, versions in by_client.items():
            later = versions[before[c] :]
            assert all(v == "v2" for v in later[1:]), (c, later)
        assert answered[-1][0] == "v2"
        assert all(f == pytest.approx(2.0 if v == "v1" else 3.0) for v, f in answered)
        assert await plane.drain(5.0)
        assert manager.get("m").key.version == "v2"
        assert [r.version for r in plane.repository_index()] == ["v2"]
        assert plane.ready()

    _run(harness, ["m:v1"], scenario)


def test_replaced_version_finishes_in_flight_work_before_unloading(harness: Harness) -> None:
    harness.push("m:v1", factor=2.0)
    harness.push("m:v2", factor=3.0)

    async def scenario(
        plane: ServingDataPlane, manager: ModelManager, metrics: ServerMetrics
    ) -> None:
        harness.probe.hold()
        held = asyncio.ensure_future(plane.infer(request(x=rows(1, 1.0))))
        await asyncio.to_thread(harness.probe.entered.wait, 10)
        await plane.load("m", "m:v2")  # its warm-up (zeros) passes the gate
        assert _row(plane, "m", "v1").state is VersionState.UNLOADING
        unloading = {"model": "m", "version": "v1", "state": "UNLOADING"}
        assert metrics.registry.get_sample_value("inferd_model_state", unloading) == 1
        zeros = await plane.infer(request(x=np.zeros((1, 4), np.float32), outputs=["z"]))
        assert zeros.model_version == "v2"
        np.testing.assert_allclose(zeros.outputs[0].data, np.full((1, 4), 3.0))
        harness.probe.release()
        answer = await held
        assert answer.model_version == "v1"
        np.testing.assert_allclose(answer.outputs[0].data, rows(1, 1.0) * 2)
        assert await plane.drain(5.0)
        assert [r.version for r in plane.repository_index()] == ["v2"]

    _run(harness, ["m:v1"], scenario)


def test_failed_new_version_keeps_the_old_one_serving(harness: Harness) -> None:
    harness.push("m:v1")
    harness.push_corrupt("m:v2")

    async def scenario(
        plane: ServingDataPlane, manager: ModelManager, metrics: ServerMetrics
    ) -> None:
        with pytest.raises(InferdError) as failed:
            await plane.load("m", "m:v2")
        assert _row(plane, "m", "v2").reason == failed.value.message
        response = await plane.infer(request())
        assert response.model_version == "v1"
        assert plane.ready()
        row = _row(plane, "m", "v2")
        assert row.state is VersionState.FAILED and row.reason
        assert _sample(metrics, "inferd_model_load_failures_total", model="m", version="v2") == 1
        assert _sample(metrics, "inferd_model_state", model="m", version="v2", state="FAILED") == 1
        assert _sample(metrics, "inferd_model_state", model="m", version="v1", state="READY") == 1

    _run(harness, ["m:v1"], scenario)


def test_one_model_failing_does_not_affect_another(harness: Harness) -> None:
    harness.push("good:v1")
    harness.push_corrupt("bad:v1")

    async def scenario(plane: ServingDataPlane, manager: ModelManager, _: ServerMetrics) -> None:
        assert (await plane.infer(request("good"))).outputs
        assert plane.model_ready("good") and not plane.model_ready("bad")
        assert _row(plane, "bad", "v1").state is VersionState.FAILED
        assert not plane.ready()  # a served model is not ready
        assert plane.live()

    _run(harness, ["good:v1", "bad:v1"], scenario)


def test_memory_budget_evicts_lru_and_loads_on_first_request(harness: Harness) -> None:
    harness.push("a:v1", factor=2.0)
    harness.push("b:v1", factor=5.0)
    budget = max(harness.size("a:v1"), harness.size("b:v1")) * 3 // 2  # room for one model

    async def scenario(plane: ServingDataPlane, manager: ModelManager, _: ServerMetrics) -> None:
        await plane.load("a", "a:v1")
        await plane.load("b", "b:v1")  # evicts a, idle and least recently used
        assert _row(plane, "a", "v1") == RepositoryEntry(
            "a", "v1", VersionState.UNAVAILABLE, EVICTED
        )
        assert plane.ready()  # an evicted version loads on demand
        with pytest.raises(DeadlineExceeded, match="while a:v1 was loading"):
            await plane.infer(request("a", deadline=time.monotonic()))
        response = await plane.infer(request("a", rows(1, 1.0)))
        np.testing.assert_allclose(response.outputs[0].data, rows(1, 1.0) * 2)
        assert _row(plane, "a", "v1").state is VersionState.READY
        assert _row(plane, "b", "v1").state is VersionState.UNAVAILABLE
        response = await plane.infer(request("b", rows(1, 1.0)))
        np.testing.assert_allclose(response.outputs[0].data, rows(1, 1.0) * 5)

    # Memory that cannot be measured is charged by the files' size (what this budget assumes).
    _run(harness, [], scenario, memory_budget_bytes=budget, meter=lambda: None)


def test_reload_follows_a_moved_alias_and_same_digest_is_a_no_op(harness: Harness) -> None:
    harness.push("m:v1", factor=2.0)
    harness.push("m:v2", factor=3.0)
    harness.store.tag("m:v1", "m:production")

    async def scenario(
        plane: ServingDataPlane, manager: ModelManager, metrics: ServerMetrics
    ) -> None:
        before = manager.get("m")
        await plane.load("m")
        assert manager.get("m") is before  # same digest: nothing reloaded
        harness.store.tag("m:v2", "m:production")
        await plane.load("m")
        response = await plane.infer(request(x=rows(1, 1.0)))
        assert response.model_version == "production"
        np.testing.assert_allclose(response.outputs[0].data, rows(1, 1.0) * 3)
        assert await plane.drain(5.0)
        loads = "inferd_model_load_duration_seconds_count"
        assert _sample(metrics, loads, model="m", version="production") == 2

    _run(harness, ["m:production"], scenario)


def test_drain_waits_for_in_flight_work(harness: Harness) -> None:
    harness.push("m:v1")

    async def scenario(plane: ServingDataPlane, manager: ModelManager, _: ServerMetrics) -> None:
        harness.probe.hold()
        in_flight = asyncio.ensure_future(plane.infer(request()))
        await asyncio.to_thread(harness.probe.entered.wait, 10)
        plane.begin_drain()
        assert not plane.ready()
        assert not await plane.drain(0.05)  # still running
        draining = asyncio.ensure_future(plane.drain(10.0))
        await asyncio.sleep(0.01)
        assert not draining.done()
        harness.probe.release()
        assert await draining
        assert in_flight.done() and (await in_flight).outputs

    _run(harness, ["m:v1"], scenario)


def test_unload_then_load_again(harness: Harness) -> None:
    harness.push("m:v1")

    async def scenario(plane: ServingDataPlane, manager: ModelManager, _: ServerMetrics) -> None:
        await plane.unload("m")
        assert _row(plane, "m", "v1").state is VersionState.UNAVAILABLE
        with pytest.raises(ModelNotFound):
            await plane.infer(request())
        assert plane.ready()  # an unloaded model is not expected to serve
        await plane.load("m")
        assert (await plane.infer(request())).model_version == "v1"

    _run(harness, ["m:v1"], scenario)


def test_a_dead_worker_thread_makes_the_server_not_live(harness: Harness) -> None:
    harness.push("m:v1")

    async def scenario(plane: ServingDataPlane, manager: ModelManager, _: ServerMetrics) -> None:
        worker = manager.get("m").worker
        assert worker is not None and plane.live()
        worker.stop()  # the thread ends, as it would if it died
        for _ in range(1000):
            if not worker.alive:
                break
            await asyncio.sleep(0.005)
        assert not plane.live()
        assert not plane.model_ready("m") and not plane.ready()
        with pytest.raises(Unavailable, match="worker thread stopped"):
            await plane.infer(request())

    _run(harness, ["m:v1"], scenario)


def test_versions_named_at_start_up_read_as_loading_not_missing(harness: Harness) -> None:
    """The listeners open before the first load begins: until then, and until each version
    named at start-up has loaded, the server is not ready and a request for such a version
    is told it is loading (503), not that it does not exist (404)."""
    harness.push("m:v1", factor=2.0)
    harness.push("m:v2", factor=3.0)

    async def main() -> None:
        plane, manager, _ = harness.plane()
        try:
            manager.expect(["m:v1", "m:v2"])
            assert not plane.ready()
            with pytest.raises(Unavailable, match="'v2' is loading"):
                manager.get("m", "v2")
            assert await manager.serve(["m:v1", "m:v2"]) == []
            assert plane.ready()
            assert manager.get("m", "v2").key.version == "v2"
            assert manager.get("m").key.version == "v1"
            with pytest.raises(ModelNotFound):
                manager.get("m", "v9")
        finally:
            await plane.close()

    asyncio.run(main())
