"""A request that leaves the queue without running (its deadline passed while queued, or it
waited ``batching.max_queue_wait_ms``) says so, and for how long it was queued: its error names
the time, and a traced request's :class:`RequestTimings` holds when it was queued and when it
was shed (the trace's queue wait), while ``ran`` stays False."""

from __future__ import annotations

import re
import time

import pytest

from inferd.errors import DeadlineExceeded, Unavailable
from inferd.serving.dataplane import ServingDataPlane
from inferd.serving.manager import ModelManager
from inferd.serving.timings import RequestTimings
from inferd.serving.types import InferResponse

from .conftest import Harness, request, rows
from .test_batcher import _block_first, _run


def test_a_deadline_passed_while_queued_names_how_long_it_queued(harness: Harness) -> None:
    async def scenario(plane: ServingDataPlane, manager: ModelManager) -> None:
        first = await _block_first(harness, plane, manager)
        late = request(x=rows(1, 5.0), deadline=time.monotonic() + 0.05)
        late.timings = timings = RequestTimings()
        with pytest.raises(DeadlineExceeded) as failure:
            await plane.infer(late)
        message = failure.value.message
        assert "deadline passed while queued for m:v1" in message
        queued = re.search(r"after (\d+) ms", message)
        assert queued is not None and int(queued[1]) >= 40, message
        assert "never ran" in message
        assert not timings.ran
        assert 0.0 < timings.enqueued < timings.shed
        assert round((timings.shed - timings.enqueued) * 1000) == int(queued[1])
        harness.probe.release()
        assert isinstance(await first, InferResponse)

    _run(harness, scenario)


def test_a_request_shed_for_its_queue_wait_keeps_when_it_was_queued_and_shed(
    harness: Harness,
) -> None:
    async def scenario(plane: ServingDataPlane, manager: ModelManager) -> None:
        first = await _block_first(harness, plane, manager)
        shed = request(x=rows(1, 5.0))
        shed.timings = timings = RequestTimings()
        with pytest.raises(Unavailable):
            await plane.infer(shed)
        assert not timings.ran
        assert timings.shed - timings.enqueued >= 0.05 * 0.9  # a timer may fire a little early
        harness.probe.release()
        assert isinstance(await first, InferResponse)

    _run(harness, scenario, batching={"max_queue_wait_ms": 50})


def test_a_request_that_ran_is_not_marked_shed(harness: Harness) -> None:
    async def scenario(plane: ServingDataPlane, manager: ModelManager) -> None:
        answered = request(x=rows(1, 5.0))
        answered.timings = timings = RequestTimings()
        assert isinstance(await plane.infer(answered), InferResponse)
        assert timings.ran and timings.shed == 0.0

    _run(harness, scenario)
