"""The queue-wait limit (``batching.max_queue_wait_ms``, Triton's queue policy with
``timeout_action: REJECT``) on its own: the expected wait it refuses arrivals by, and the line
that refuses requests queued past the limit. Times are given, never measured: no timer runs."""

from __future__ import annotations

import asyncio

import pytest

from inferd.config import BatchingSettings
from inferd.errors import Unavailable
from inferd.serving.deadlines import Waiter
from inferd.serving.queue_wait import WEIGHT, NoQueueWait, QueueWait, queue_wait

from .conftest import waiter_at


class _Refused:
    """The batcher's side: which waiters were refused, with what."""

    def __init__(self) -> None:
        self.waiters: list[Waiter] = []
        self.errors: list[Unavailable] = []

    def __call__(self, waiter: Waiter, error: Unavailable) -> None:
        waiter.queued = False
        waiter.future.set_exception(error)
        waiter.future.exception()  # retrieved, as the awaiting request would
        self.waiters.append(waiter)
        self.errors.append(error)


def _limit(
    loop: asyncio.AbstractEventLoop, limit_ms: float = 100.0, max_rows: int = 32
) -> tuple[QueueWait, _Refused]:
    refused = _Refused()
    policy = queue_wait(
        "m:v1", BatchingSettings(max_queue_wait_ms=limit_ms), max_rows, loop, refused
    )
    assert isinstance(policy, QueueWait)
    return policy, refused


def _pace(
    policy: QueueWait, loop: asyncio.AbstractEventLoop, requests: int, rows: int, s: float
) -> None:
    """One batch of ``requests`` holding ``rows`` rows that took ``s`` seconds."""
    policy.ran([waiter_at(loop, 0.0) for _ in range(requests)], rows, s, failed=False)


def test_off_by_default_refuses_nothing(loop: asyncio.AbstractEventLoop) -> None:
    refused = _Refused()
    policy = queue_wait("m:v1", BatchingSettings(), 32, loop, refused)
    assert type(policy) is NoQueueWait
    waiter = waiter_at(loop, 0.0)
    policy.watch(waiter, queued=10_000, running=True, running_since=0.0)
    policy.ran([waiter], 1, 100.0, failed=False)
    assert refused.waiters == []


def test_no_estimate_before_a_batch_has_run(loop: asyncio.AbstractEventLoop) -> None:
    policy, _ = _limit(loop)
    assert policy.expected_wait(queued=1000, running=True, running_since=0.0, now=0.0) == 0.0
    policy.watch(waiter_at(loop, 0.0), queued=1000, running=True, running_since=0.0)  # admitted


def test_expected_wait_is_the_running_batch_left_plus_a_batch_per_full_batch_ahead(
    loop: asyncio.AbstractEventLoop,
) -> None:
    policy, _ = _limit(loop, max_rows=32)
    _pace(policy, loop, 32, 32, 0.1)
    # a batch running 0.04 s of its 0.1 s, 64 requests ahead: two full batches before this one
    assert policy.expected_wait(64, True, running_since=10.0, now=10.04) == pytest.approx(0.26)
    # fewer than a batch ahead: it joins the next batch, and waits only for the running one
    assert policy.expected_wait(31, True, running_since=10.0, now=10.04) == pytest.approx(0.06)
    # a running batch past its expected time counts nothing more; none running counts nothing
    assert policy.expected_wait(32, True, running_since=10.0, now=10.5) == pytest.approx(0.1)
    assert policy.expected_wait(32, False, running_since=10.0, now=10.04) == pytest.approx(0.1)


def test_a_full_batch_counts_the_rows_requests_bring(loop: asyncio.AbstractEventLoop) -> None:
    """Requests of 4 rows: 8 of them fill a batch of 32 rows."""
    policy, _ = _limit(loop, max_rows=32)
    _pace(policy, loop, 2, 8, 0.1)
    assert policy.expected_wait(7, False, 0.0, now=0.0) == 0.0
    assert policy.expected_wait(8, False, 0.0, now=0.0) == pytest.approx(0.1)
    assert policy.expected_wait(17, False, 0.0, now=0.0) == pytest.approx(0.2)


def test_the_pace_is_a_running_mean_of_the_batches(loop: asyncio.AbstractEventLoop) -> None:
    policy, _ = _limit(loop, max_rows=32)
    _pace(policy, loop, 4, 4, 0.1)  # one row a request
    _pace(policy, loop, 4, 12, 0.3)  # three rows a request
    request_rows = 1 + WEIGHT * (3 - 1)
    batch_s = 0.1 + WEIGHT * (0.3 - 0.1)
    full = int(32 / request_rows)
    assert policy.expected_wait(full - 1, False, 0.0, now=0.0) == 0.0
    assert policy.expected_wait(3 * full, False, 0.0, now=0.0) == pytest.approx(3 * batch_s)


def test_a_model_that_cannot_batch_runs_one_request_a_batch(
    loop: asyncio.AbstractEventLoop,
) -> None:
    policy, _ = _limit(loop, max_rows=1)
    _pace(policy, loop, 1, 1, 0.02)
    assert policy.expected_wait(3, False, 0.0, now=0.0) == pytest.approx(0.06)


def test_an_arrival_that_would_wait_beyond_the_limit_is_refused_and_not_watched(
    loop: asyncio.AbstractEventLoop,
) -> None:
    policy, refused = _limit(loop, limit_ms=100.0, max_rows=2)
    _pace(policy, loop, 2, 2, 0.06)
    waiter = waiter_at(loop, 5.0)
    policy.watch(waiter, queued=3, running=False, running_since=0.0)  # 60 ms: admitted
    late = waiter_at(loop, 5.0)
    with pytest.raises(Unavailable) as refusal:
        policy.watch(late, queued=4, running=False, running_since=0.0)  # 120 ms
    assert refusal.value.retry_after >= 1
    message = refusal.value.message
    assert "batching.max_queue_wait_ms" in message
    assert "about 120 ms" in message and "100 ms" in message and "4 requests ahead" in message
    policy.expire(now=1000.0)
    assert refused.waiters == [waiter]  # the refused arrival was never in line


def test_requests_queued_past_the_limit_are_refused_in_arrival_order(
    loop: asyncio.AbstractEventLoop,
) -> None:
    policy, refused = _limit(loop, limit_ms=100.0)
    first, second, third = (waiter_at(loop, t) for t in (1.0, 1.05, 1.2))
    for waiter in (first, second, third):
        policy.watch(waiter, queued=0, running=True, running_since=0.0)
    policy.expire(now=1.0999)
    assert refused.waiters == []
    policy.expire(now=1.16)  # the first two waited 100 ms or more, the third none
    assert refused.waiters == [first, second]
    assert "kept this request queued 100 ms" in refused.errors[0].message
    assert "batching.max_queue_wait_ms" in refused.errors[0].message
    assert all(e.retry_after >= 1 for e in refused.errors)
    assert third.queued and not third.future.done()


def test_started_and_answered_requests_are_never_refused(loop: asyncio.AbstractEventLoop) -> None:
    policy, refused = _limit(loop, limit_ms=100.0)
    started, answered, waiting = (waiter_at(loop, 1.0) for _ in range(3))
    for waiter in (started, answered, waiting):
        policy.watch(waiter, queued=0, running=True, running_since=0.0)
    started.queued = False  # its batch began
    answered.future.set_exception(Unavailable("gone"))  # e.g. its deadline, or its client left
    answered.queued = False
    policy.expire(now=5.0)
    assert refused.waiters == [waiting]


def test_requests_rerun_after_a_failed_batch_are_never_refused_for_their_wait(
    loop: asyncio.AbstractEventLoop,
) -> None:
    policy, refused = _limit(loop, limit_ms=100.0)
    batch = [waiter_at(loop, 1.0), waiter_at(loop, 1.01)]
    behind = waiter_at(loop, 1.02)
    for waiter in (*batch, behind):
        policy.watch(waiter, queued=0, running=True, running_since=0.0)
    for waiter in batch:
        waiter.queued = False  # the batch started...
    policy.ran(batch, 2, 0.5, failed=True)
    for waiter in batch:
        waiter.queued = True  # ...failed, and each queues again to run alone
    policy.expire(now=5.0)
    assert refused.waiters == [behind]


def test_started_requests_leave_the_line_after_each_batch(loop: asyncio.AbstractEventLoop) -> None:
    """Not only when the timer fires: with a long limit the line would otherwise hold every
    request answered within it, inputs and all."""
    policy, refused = _limit(loop, limit_ms=10_000.0)
    batch = [waiter_at(loop, 1.0) for _ in range(3)]
    behind = waiter_at(loop, 1.1)
    for waiter in (*batch, behind):
        policy.watch(waiter, queued=0, running=True, running_since=0.0)
    for waiter in batch:
        waiter.queued = False  # the batch started
    policy.ran(batch, 3, 0.1, failed=False)
    assert len(policy) == 1
    policy.expire(now=100.0)
    assert refused.waiters == [behind]
