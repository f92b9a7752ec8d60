"""The statistics extension as Triton counts it, after a known workload on a real ONNX model."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from inferd.serving.dataplane import ServingDataPlane
from inferd.serving.manager import ModelManager

from .conftest import Harness, request, rows


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(5000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("condition never became true")


def _queued(manager: ModelManager) -> int:
    batcher = manager.get("m").batcher
    assert batcher is not None
    return batcher.queued


def _run(
    harness: Harness, scenario: Callable[[ServingDataPlane, ModelManager], Awaitable[None]]
) -> None:
    async def main() -> None:
        harness.push("m:v1")
        plane, manager, _ = harness.plane(batching={"max_queue_delay_ms": 60_000})
        await manager.serve(["m:v1"])
        try:
            await scenario(plane, manager)
        finally:
            harness.probe.release()
            await plane.close()

    asyncio.run(main())


def test_queue_and_compute_are_counted_per_successful_request(harness: Harness) -> None:
    """Triton charges each request of a batch the batch's compute time, so that success,
    queue and compute_infer count the same requests and a request's time adds up (queue +
    compute <= success). compute_infer counted model runs (2 here, for 4 requests), and queue
    every start, also of a request that then failed."""

    async def scenario(plane: ServingDataPlane, manager: ModelManager) -> None:
        harness.probe.hold()
        first = asyncio.ensure_future(plane.infer(request(x=rows(1))))
        await asyncio.to_thread(harness.probe.entered.wait, 10)
        inputs = [rows(2, 10), rows(3, 100), rows(1, 200)]
        queued = [asyncio.ensure_future(plane.infer(request(x=x))) for x in inputs]
        await _until(lambda: _queued(manager) == 3)
        harness.probe.release()
        await asyncio.gather(first, *queued)
        assert harness.probe.rows == [1, 6]

        (stats,) = plane.model_stats("m")
        infer = stats.inference_stats
        assert (stats.inference_count, stats.execution_count) == (7, 2)
        assert infer.success.count == infer.queue.count == infer.compute_infer.count == 4
        by_size = {b.batch_size: b.compute_infer for b in stats.batch_stats}
        assert (by_size[1].count, by_size[6].count) == (1, 1)
        assert infer.compute_infer.ns == by_size[1].ns + 3 * by_size[6].ns
        assert infer.queue.ns + infer.compute_infer.ns <= infer.success.ns

    _run(harness, scenario)


def test_a_request_that_fails_counts_in_fail_only(harness: Harness) -> None:
    """A batch the model raised on reruns its requests alone: the offender counts in fail,
    the others once each in success, queue and compute_infer (queue counted 5 starts for the
    4 requests, the failed one included)."""

    async def scenario(plane: ServingDataPlane, manager: ModelManager) -> None:
        harness.probe.refuse = 99.0
        harness.probe.hold()
        first = asyncio.ensure_future(plane.infer(request(x=rows(1))))
        await asyncio.to_thread(harness.probe.entered.wait, 10)
        starts = [1.0, 99.0, 3.0]
        queued = [asyncio.ensure_future(plane.infer(request(x=rows(1, s)))) for s in starts]
        await _until(lambda: _queued(manager) == 3)
        harness.probe.release()
        results = await asyncio.gather(first, *queued, return_exceptions=True)
        assert isinstance(results[2], Exception), results
        assert harness.probe.rows[-4:] == [3, 1, 1, 1]

        infer = plane.model_stats("m")[0].inference_stats
        assert (infer.success.count, infer.fail.count) == (3, 1)
        assert infer.queue.count == infer.compute_infer.count == 3
        assert infer.queue.ns + infer.compute_infer.ns <= infer.success.ns

    _run(harness, scenario)
