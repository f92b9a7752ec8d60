"""Dynamic batching through the data plane, on a real ONNX model held at a gate by the probe."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import numpy as np
import pytest

from inferd.errors import DeadlineExceeded, InternalError, InvalidArgument, Unavailable
from inferd.serving.dataplane import ServingDataPlane
from inferd.serving.manager import ModelManager
from inferd.serving.types import InferResponse

from .conftest import Harness, batch_sizes, request, rows


async def _until(condition: Callable[[], bool]) -> None:
    """Yield to the loop until ``condition`` holds (bounded, so a bug fails instead of hanging)."""
    for _ in range(5000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("condition never became true")


def _queued(manager: ModelManager) -> int:
    batcher = manager.get("m").batcher
    assert batcher is not None
    return batcher.queued


async def _block_first(
    harness: Harness, plane: ServingDataPlane, manager: ModelManager
) -> asyncio.Task[InferResponse]:
    """Start one request and wait until the model is running it, held at the gate."""
    harness.probe.hold()
    first = asyncio.ensure_future(plane.infer(request(x=rows(1))))
    await asyncio.to_thread(harness.probe.entered.wait, 10)
    return first


def _run(harness: Harness, scenario: Callable[..., Awaitable[None]], **settings: object) -> None:
    async def main() -> None:
        harness.push("m:v1")
        plane, manager, _ = harness.plane(**settings)
        await manager.serve(["m:v1"])
        try:
            await scenario(plane, manager)
        finally:
            harness.probe.release()
            await plane.close()

    asyncio.run(main())


def test_lone_request_runs_at_once_without_waiting_for_the_window(harness: Harness) -> None:
    async def scenario(plane: ServingDataPlane, manager: ModelManager) -> None:
        # A 60 s window would exceed this request's 5 s deadline if a lone request waited for it.
        response = await plane.infer(request(x=rows(1), deadline=time.monotonic() + 5))
        np.testing.assert_allclose(response.outputs[0].data, rows(1) * 2)
        assert batch_sizes(plane) == {1: 1}

    _run(harness, scenario, batching={"max_queue_delay_ms": 60_000})


def test_batch_closes_at_max_batch_size(harness: Harness) -> None:
    async def scenario(plane: ServingDataPlane, manager: ModelManager) -> None:
        first = await _block_first(harness, plane, manager)
        queued = [asyncio.ensure_future(plane.infer(request(x=rows(1, i)))) for i in range(6)]
        await _until(lambda: _queued(manager) == 6)
        harness.probe.release()
        results = await asyncio.gather(first, *queued)
        for i, response in enumerate(results[1:]):
            np.testing.assert_allclose(response.outputs[0].data, rows(1, i) * 2)
        assert batch_sizes(plane) == {1: 1, 4: 1, 2: 1}
        assert harness.probe.rows == [1, 4, 2]

    _run(harness, scenario, batching={"max_batch_size": 4, "max_queue_delay_ms": 60_000})


def test_batches_closed_by_the_delay_run_together_when_the_model_frees(harness: Harness) -> None:
    async def scenario(plane: ServingDataPlane, manager: ModelManager) -> None:
        first = await _block_first(harness, plane, manager)
        early = [asyncio.ensure_future(plane.infer(request(x=rows(1, i)))) for i in range(2)]
        # The 20 ms window closes (its timer is due before this sleep ends) with two requests.
        await asyncio.sleep(0.2)
        late = asyncio.ensure_future(plane.infer(request(x=rows(1, 9))))
        await asyncio.sleep(0.2)
        await _until(lambda: _queued(manager) == 3)
        harness.probe.release()
        results = await asyncio.gather(first, *early, late)
        for response, x in zip(results[1:], [rows(1, 0), rows(1, 1), rows(1, 9)], strict=True):
            np.testing.assert_allclose(response.outputs[0].data, x * 2)
        # Both closed batches waited for the model anyway: it runs them as one batch, not a
        # batch of two then a batch of one (a model slower than the window ran its queue a few
        # rows at a time, at half its capacity, under overload).
        assert harness.probe.rows == [1, 3]

    _run(harness, scenario, batching={"max_batch_size": 32, "max_queue_delay_ms": 20})


def test_closed_batches_are_joined_only_up_to_max_batch_size(harness: Harness) -> None:
    async def scenario(plane: ServingDataPlane, manager: ModelManager) -> None:
        first = await _block_first(harness, plane, manager)
        queued = []
        for group in range(3):  # three batches of three, each closed by the 20 ms window
            queued += [asyncio.ensure_future(plane.infer(request(x=rows(1, 3 * group + i))))
                       for i in range(3)]  # fmt: skip
            await asyncio.sleep(0.2)
        await _until(lambda: _queued(manager) == 9)
        harness.probe.release()
        await asyncio.gather(first, *queued)
        assert harness.probe.rows == [1, 6, 3]

    _run(harness, scenario, batching={"max_batch_size": 6, "max_queue_delay_ms": 20})


def test_after_a_batch_of_several_rows_the_next_collects_as_many(harness: Harness) -> None:
    async def scenario(plane: ServingDataPlane, manager: ModelManager) -> None:
        first = await _block_first(harness, plane, manager)
        three = [asyncio.ensure_future(plane.infer(request(x=rows(1, i)))) for i in range(3)]
        await _until(lambda: _queued(manager) == 3)
        # Let the lone batch through, then hold the batch of three at the gate for a while: the
        # wait after it is bounded by how long it took.
        harness.probe.release()
        harness.probe.hold()
        await _until(lambda: harness.probe.rows == [1, 3])
        await asyncio.sleep(0.5)
        harness.probe.release()
        await asyncio.gather(first, *three)
        # The model is free but was just busy: a lone arrival waits for the others instead of
        # running alone (it would have run at once on an idle model).
        lone = asyncio.ensure_future(plane.infer(request(x=rows(1, 10))))
        for _ in range(5):
            await asyncio.sleep(0)
        rest = [asyncio.ensure_future(plane.infer(request(x=rows(1, 11 + i)))) for i in range(2)]
        await asyncio.gather(lone, *rest)
        assert harness.probe.rows == [1, 3, 3]

    _run(harness, scenario, batching={"max_queue_delay_ms": 60_000})


def test_the_wait_for_more_rows_is_bounded(harness: Harness) -> None:
    async def scenario(plane: ServingDataPlane, manager: ModelManager) -> None:
        first = await _block_first(harness, plane, manager)
        three = [asyncio.ensure_future(plane.infer(request(x=rows(1, i)))) for i in range(3)]
        await _until(lambda: _queued(manager) == 3)
        harness.probe.release()
        await asyncio.gather(first, *three)
        # Nobody else comes: the lone request still runs (within the 5 s deadline, long before
        # the 60 s window), alone.
        response = await plane.infer(request(x=rows(1, 10), deadline=time.monotonic() + 5))
        np.testing.assert_allclose(response.outputs[0].data, rows(1, 10) * 2)
        assert harness.probe.rows == [1, 3, 1]

    _run(harness, scenario, batching={"max_queue_delay_ms": 60_000})


def test_requests_with_a_batch_dimension_are_batched_and_split_back(harness: Harness) -> None:
    async def scenario(plane: ServingDataPlane, manager: ModelManager) -> None:
        first = await _block_first(harness, plane, manager)
        inputs = [rows(2, 0), rows(3, 100), rows(1, 200)]
        queued = [asyncio.ensure_future(plane.infer(request(x=x))) for x in inputs]
        await _until(lambda: _queued(manager) == 3)
        harness.probe.release()
        results = await asyncio.gather(*queued)
        await first
        for x, response in zip(inputs, results, strict=True):
            by_name = {t.name: t.data for t in response.outputs}
            np.testing.assert_allclose(by_name["y"], x * 2)
            np.testing.assert_allclose(by_name["z"], x + 2)
        assert harness.probe.rows == [1, 6]

    _run(harness, scenario, batching={"max_queue_delay_ms": 60_000})


def test_wrong_output_length_fails_every_waiter(harness: Harness) -> None:
    async def scenario(plane: ServingDataPlane, manager: ModelManager) -> None:
        harness.probe.wrong_rows = True
        first = await _block_first(harness, plane, manager)
        queued = [asyncio.ensure_future(plane.infer(request(x=rows(1, i)))) for i in range(3)]
        await _until(lambda: _queued(manager) == 3)
        harness.probe.release()
        results = await asyncio.gather(*queued, return_exceptions=True)
        assert (await first).outputs  # the lone batch of one row was well-formed
        assert all(isinstance(r, InternalError) for r in results), results
        assert "2 rows of output" in str(results[0]) and "batch of 3 rows" in str(results[0])

    _run(harness, scenario, batching={"max_queue_delay_ms": 60_000})


def test_a_batch_with_the_wrong_output_length_is_not_counted_as_an_inference(
    harness: Harness,
) -> None:
    """Its rows counted in inference_count, execution_count and batch_stats although every
    request of it failed; Triton counts only inferences that succeeded there."""

    async def scenario(plane: ServingDataPlane, manager: ModelManager) -> None:
        harness.probe.wrong_rows = True
        first = await _block_first(harness, plane, manager)
        queued = [asyncio.ensure_future(plane.infer(request(x=rows(1, i)))) for i in range(3)]
        await _until(lambda: _queued(manager) == 3)
        harness.probe.release()
        await asyncio.gather(first, *queued, return_exceptions=True)
        (stats,) = plane.model_stats("m")
        assert (stats.inference_count, stats.execution_count) == (1, 1)
        assert batch_sizes(plane) == {1: 1}
        assert stats.inference_stats.fail.count == 3

    _run(harness, scenario, batching={"max_queue_delay_ms": 60_000})


def test_model_exception_fans_out_without_internals(harness: Harness) -> None:
    async def scenario(plane: ServingDataPlane, manager: ModelManager) -> None:
        first = await _block_first(harness, plane, manager)
        queued = [asyncio.ensure_future(plane.infer(request(x=rows(1, i)))) for i in range(2)]
        await _until(lambda: _queued(manager) == 2)
        harness.probe.fail = True
        harness.probe.release()
        results = await asyncio.gather(first, *queued, return_exceptions=True)
        assert all(isinstance(r, InternalError) for r in results), results
        assert not any("/srv/secret" in str(r) for r in results)
        assert plane.model_stats("m")[0].inference_stats.fail.count == 3

    _run(harness, scenario)


@pytest.mark.parametrize(
    ("fault", "error", "says"),
    [("refuse", InvalidArgument, "starts with 99"), ("choke", InternalError, "see the server log")],
    ids=["refused input", "model error"],
)
def test_a_model_failing_on_one_input_fails_only_that_request(
    harness: Harness, fault: str, error: type[Exception], says: str
) -> None:
    """The batch reruns its requests alone, so only the offender fails: with the model's own
    message when it refused an input, with InternalError (the model's text in the log only)
    for any other exception (found: one client's 1e39 as FP32 made scikit-learn raise, and
    2-16 of 30 other clients' requests got 500)."""

    async def scenario(plane: ServingDataPlane, manager: ModelManager) -> None:
        setattr(harness.probe, fault, 99.0)
        first = await _block_first(harness, plane, manager)
        starts = [1.0, 99.0, 3.0]
        queued = [asyncio.ensure_future(plane.infer(request(x=rows(1, s)))) for s in starts]
        await _until(lambda: _queued(manager) == 3)
        harness.probe.release()
        results = await asyncio.gather(first, *queued, return_exceptions=True)
        assert isinstance(results[2], error), results
        assert says in str(results[2]) and "too large" not in str(results[2])
        assert all(isinstance(r, InferResponse) for i, r in enumerate(results) if i != 2), results
        # the batch of three failed, then each request ran alone
        assert harness.probe.rows[-4:] == [3, 1, 1, 1]
        assert plane.model_stats("m")[0].inference_stats.fail.count == 1

    _run(harness, scenario, batching={"max_queue_delay_ms": 60_000})


def test_full_queue_sheds_with_unavailable(harness: Harness) -> None:
    async def scenario(plane: ServingDataPlane, manager: ModelManager) -> None:
        first = await _block_first(harness, plane, manager)
        queued = [asyncio.ensure_future(plane.infer(request(x=rows(1, i)))) for i in range(2)]
        await _until(lambda: _queued(manager) == 2)
        with pytest.raises(Unavailable) as shed:
            await plane.infer(request())
        assert shed.value.retry_after > 0
        # the limit, and the setting that raises it (the message named neither)
        assert "2 requests queued" in shed.value.message
        assert "batching.max_queue_size" in shed.value.message
        harness.probe.release()
        await asyncio.gather(first, *queued)

    _run(harness, scenario, batching={"max_queue_size": 2, "max_queue_delay_ms": 60_000})


def test_deadline_while_queued_is_never_executed(harness: Harness) -> None:
    async def scenario(plane: ServingDataPlane, manager: ModelManager) -> None:
        first = await _block_first(harness, plane, manager)
        with pytest.raises(DeadlineExceeded):
            await plane.infer(request(x=rows(5), deadline=time.monotonic() + 0.05))
        harness.probe.release()
        await first
        (stats,) = plane.model_stats("m")
        assert stats.execution_count == 1
        assert stats.inference_count == 1
        assert harness.probe.rows == [1]

    _run(harness, scenario)


def test_deadlines_in_arrival_order_expire_on_time(harness: Harness) -> None:
    async def scenario(plane: ServingDataPlane, manager: ModelManager) -> None:
        harness.probe.hold()
        now = time.monotonic()
        running = asyncio.ensure_future(plane.infer(request(x=rows(1), deadline=now + 0.05)))
        await asyncio.to_thread(harness.probe.entered.wait, 10)
        queued = asyncio.ensure_future(plane.infer(request(x=rows(2), deadline=now + 0.1)))
        results = await asyncio.gather(running, queued, return_exceptions=True)
        assert [type(r) for r in results] == [DeadlineExceeded, DeadlineExceeded]
        assert "while the model ran" in str(results[0]) and "while queued" in str(results[1])
        harness.probe.release()
        response = await plane.infer(request(x=rows(1, 7)))
        np.testing.assert_allclose(response.outputs[0].data, rows(1, 7) * 2)
        assert harness.probe.rows == [1, 1]  # the expired queued request never ran

    _run(harness, scenario)


def test_cancelled_request_is_removed_and_never_executed(harness: Harness) -> None:
    async def scenario(plane: ServingDataPlane, manager: ModelManager) -> None:
        first = await _block_first(harness, plane, manager)
        gone = asyncio.ensure_future(plane.infer(request(x=rows(7))))
        kept = asyncio.ensure_future(plane.infer(request(x=rows(2))))
        await _until(lambda: _queued(manager) == 2)
        gone.cancel()
        await asyncio.gather(gone, return_exceptions=True)
        assert _queued(manager) == 1
        harness.probe.release()
        await asyncio.gather(first, kept)
        assert harness.probe.rows == [1, 2]

    _run(harness, scenario, batching={"max_queue_delay_ms": 60_000})
