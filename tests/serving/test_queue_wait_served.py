"""The queue-wait limit (``batching.max_queue_wait_ms``) through the data plane, on a real ONNX
model held at the probe's gate: a request queued past the limit is refused with Unavailable (503
+ Retry-After) and never runs; once the model's pace is known, one that would wait beyond it is
refused on arrival. No timing is asserted: the tests wait for the refusals to happen."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from inferd.errors import Unavailable
from inferd.observe.metrics import ServerMetrics
from inferd.serving.dataplane import ServingDataPlane
from inferd.serving.manager import ModelManager
from inferd.serving.types import InferResponse

from .conftest import Harness, request, rows
from .test_batcher import _block_first, _queued

Scenario = Callable[[ServingDataPlane, ModelManager, ServerMetrics], Awaitable[None]]


def _run(harness: Harness, scenario: Scenario, **batching: object) -> None:
    async def main() -> None:
        harness.push("m:v1")
        plane, manager, metrics = harness.plane(batching=batching)
        await manager.serve(["m:v1"])
        try:
            await scenario(plane, manager, metrics)
        finally:
            harness.probe.release()
            await plane.close()

    asyncio.run(main())


def _unavailable(metrics: ServerMetrics) -> float:
    """The ``unavailable`` outcome count of model m."""
    for line in metrics.render().decode().splitlines():
        if line.startswith('inferd_requests_total{model="m"') and '"unavailable"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_request_queued_past_the_wait_limit_is_refused_and_never_runs(
    harness: Harness,
) -> None:
    async def scenario(
        plane: ServingDataPlane, manager: ModelManager, metrics: ServerMetrics
    ) -> None:
        first = await _block_first(harness, plane, manager)
        with pytest.raises(Unavailable) as refusal:
            await plane.infer(request(x=rows(1, 50.0)))
        assert refusal.value.retry_after >= 1
        assert "kept this request queued 50 ms" in refusal.value.message
        assert "batching.max_queue_wait_ms" in refusal.value.message
        assert _queued(manager) == 0
        harness.probe.release()
        assert isinstance(await first, InferResponse)
        (stats,) = plane.model_stats("m")
        assert stats.execution_count == 1 and stats.inference_count == 1
        assert harness.probe.rows == [1]  # the model ran one batch: the first request's row
        assert _unavailable(metrics) == 1

    _run(harness, scenario, max_queue_wait_ms=50)


def test_once_the_pace_is_known_an_arrival_that_would_wait_too_long_is_refused_at_once(
    harness: Harness,
) -> None:
    async def scenario(
        plane: ServingDataPlane, manager: ModelManager, metrics: ServerMetrics
    ) -> None:
        # A first batch held until a request behind it was refused for its wait: the model's
        # pace is now one request a batch, each taking longer than the limit.
        first = await _block_first(harness, plane, manager)
        with pytest.raises(Unavailable):
            await plane.infer(request(x=rows(1, 50.0)))
        harness.probe.release()
        await first
        second = await _block_first(harness, plane, manager)
        # Two sent in one turn of the loop: the first would start with the next batch, so it is
        # queued, and refused once it has waited the limit; the second, a full batch behind it,
        # is refused on arrival.
        tasks = [asyncio.ensure_future(plane.infer(request(x=rows(1, s)))) for s in (6, 7)]
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, Unavailable) for r in results), results
        messages = [str(r) for r in results]
        assert "kept this request queued 50 ms" in messages[0], messages
        assert "would keep this request queued about" in messages[1], messages
        assert all("batching.max_queue_wait_ms" in m for m in messages), messages
        harness.probe.release()
        await second
        (stats,) = plane.model_stats("m")
        assert stats.execution_count == 2  # neither refused request ever ran
        assert _unavailable(metrics) == 3

    _run(harness, scenario, max_queue_wait_ms=50, max_batch_size=1)
