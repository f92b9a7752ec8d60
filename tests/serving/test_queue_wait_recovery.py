"""The queue-wait limit (``batching.max_queue_wait_ms``) at low load, when one batch takes
longer than the limit: a request that would start with the next batch is admitted, and refused
only once it has actually waited the limit (Triton's queue policy times out requests that
waited, it never guesses); one behind a full batch is still refused on arrival. Without this,
the probes after an overload were refused for seconds whenever one batch ran past the limit."""

from __future__ import annotations

import asyncio

import pytest

from inferd.config import BatchingSettings
from inferd.errors import Unavailable
from inferd.serving.dataplane import ServingDataPlane
from inferd.serving.deadlines import Waiter
from inferd.serving.manager import ModelManager
from inferd.serving.queue_wait import QueueWait, queue_wait
from inferd.serving.types import InferResponse

from .conftest import Harness, request, rows, waiter_at
from .test_batcher import _block_first, _queued, _run


def _slow_pace(loop: asyncio.AbstractEventLoop, max_rows: int) -> tuple[QueueWait, list[Waiter]]:
    """A limit of 100 ms whose recent batches took 500 ms, one row a request."""
    refused: list[Waiter] = []

    def refuse(waiter: Waiter, error: Unavailable) -> None:
        waiter.queued = False
        waiter.future.set_exception(error)
        waiter.future.exception()
        refused.append(waiter)

    policy = queue_wait("m:v1", BatchingSettings(max_queue_wait_ms=100), max_rows, loop, refuse)
    assert isinstance(policy, QueueWait)
    policy.ran([waiter_at(loop, 0.0) for _ in range(4)], 4, 0.5, failed=False)
    return policy, refused


@pytest.mark.parametrize("max_rows", [32, 1])
def test_a_request_that_would_start_with_the_next_batch_is_admitted(
    loop: asyncio.AbstractEventLoop, max_rows: int
) -> None:
    policy, refused = _slow_pace(loop, max_rows)
    # A batch started 10 ms ago and is expected to run 490 ms more; nothing else is queued.
    waiter = waiter_at(loop, 10.01)
    policy.watch(waiter, queued=0, running=True, running_since=10.0)  # not refused
    policy.expire(now=10.1)  # the batch may well end sooner than the estimate: it waits
    assert refused == [] and waiter.queued
    policy.expire(now=10.12)  # it has waited the limit without starting: now it is refused
    assert refused == [waiter]


def test_fewer_than_a_full_batch_ahead_still_join_the_next_batch(
    loop: asyncio.AbstractEventLoop,
) -> None:
    policy, refused = _slow_pace(loop, max_rows=32)
    policy.watch(waiter_at(loop, 10.01), queued=31, running=True, running_since=10.0)
    assert len(policy) == 1 and refused == []


@pytest.mark.parametrize(("max_rows", "queued"), [(32, 32), (1, 1)])
def test_a_request_behind_a_full_batch_is_still_refused_on_arrival(
    loop: asyncio.AbstractEventLoop, max_rows: int, queued: int
) -> None:
    policy, _ = _slow_pace(loop, max_rows)
    with pytest.raises(Unavailable) as refusal:
        policy.watch(waiter_at(loop, 10.01), queued=queued, running=True, running_since=10.0)
    assert "would keep this request queued about" in refusal.value.message
    assert len(policy) == 0


def test_after_a_batch_longer_than_the_limit_the_next_request_runs_with_the_next_batch(
    harness: Harness,
) -> None:
    """Through the data plane: the model's pace is a batch of twice the limit (the first batch
    was held until two requests behind it, one after the other, were refused for their wait). A
    request arriving while the next batch runs is queued, not refused, and runs once the model
    frees."""

    async def scenario(plane: ServingDataPlane, manager: ModelManager) -> None:
        first = await _block_first(harness, plane, manager)
        for value in (5.0, 6.0):
            with pytest.raises(Unavailable):  # waited the limit behind the held batch
                await plane.infer(request(x=rows(1, value)))
        harness.probe.release()
        await first
        second = await _block_first(harness, plane, manager)
        third = asyncio.ensure_future(plane.infer(request(x=rows(1, 7.0))))
        while _queued(manager) == 0 and not third.done():
            await asyncio.sleep(0)
        assert not third.done(), third.exception()  # queued: not refused on arrival
        harness.probe.release()
        assert isinstance(await second, InferResponse)
        answer = await third
        assert isinstance(answer, InferResponse)
        assert harness.probe.rows[-1] == 1

    _run(harness, scenario, batching={"max_queue_wait_ms": 1000})
