"""A traced request's timings: the batcher stamps its queue wait and the batch it ran in."""

from __future__ import annotations

import asyncio

from inferd.serving.dataplane import ServingDataPlane
from inferd.serving.manager import ModelManager
from inferd.serving.timings import RequestTimings

from .conftest import Harness, request, rows
from .test_batcher import _block_first, _queued, _run, _until


def test_traced_requests_get_their_queue_wait_and_batch(harness: Harness) -> None:
    async def scenario(plane: ServingDataPlane, manager: ModelManager) -> None:
        first = await _block_first(harness, plane, manager)  # untraced: the model is busy
        traced = [request(x=rows(2, i)) for i in range(2)]
        for r in traced:
            r.timings = RequestTimings()
        untraced = request(x=rows(1))
        waiting = [asyncio.ensure_future(plane.infer(r)) for r in (*traced, untraced)]
        await _until(lambda: _queued(manager) == 3)
        harness.probe.release()
        await asyncio.gather(first, *waiting)
        assert untraced.timings is None
        for r in traced:
            t = r.timings
            assert t is not None and t.ran
            # Queued while the first request ran, then all three ran as one batch of 5 rows.
            assert t.enqueued < t.started < t.finished
            assert (t.batch_rows, t.batch_requests) == (5, 3)
        assert traced[0].timings.started == traced[1].timings.started  # type: ignore[union-attr]

    _run(harness, scenario, batching={"max_queue_delay_ms": 60_000, "max_batch_size": 8})


def test_a_lone_traced_request_is_a_batch_of_its_own(harness: Harness) -> None:
    async def scenario(plane: ServingDataPlane, manager: ModelManager) -> None:
        traced = request(x=rows(3))
        traced.timings = RequestTimings()
        await plane.infer(traced)
        t = traced.timings
        assert t.ran and (t.batch_rows, t.batch_requests) == (3, 1)
        assert t.enqueued <= t.started < t.finished

    _run(harness, scenario)
