"""The token bucket's arithmetic, on a clock the test moves."""

from __future__ import annotations

import pytest

from inferd.protocols.access.buckets import TokenBucket


def test_a_full_bucket_grants_a_burst_of_one_second_then_waits_for_the_rate() -> None:
    bucket = TokenBucket(4.0, now=100.0)
    assert [bucket.take(100.0) for _ in range(4)] == [0.0] * 4
    assert bucket.take(100.0) == pytest.approx(0.25)
    assert bucket.take(100.1) == pytest.approx(0.15)
    assert bucket.take(100.25) == 0.0
    assert bucket.take(100.25) == pytest.approx(0.25)


def test_over_a_long_stretch_at_most_the_rate_gets_through() -> None:
    bucket = TokenBucket(10.0, now=0.0)
    granted = sum(bucket.take(i / 1000) == 0.0 for i in range(10_000))  # 1000/s for 10 s
    assert 10 + 99 <= granted <= 10 + 100  # the burst, then 10 a second over 9.999 s


def test_an_idle_bucket_refills_only_to_its_burst() -> None:
    bucket = TokenBucket(2.0, now=0.0)
    bucket.take(0.0)
    bucket.take(0.0)
    assert [bucket.take(3600.0) for _ in range(3)][:2] == [0.0, 0.0]
    assert bucket.take(3600.0) > 0


def test_a_rate_below_one_still_grants_one_request_then_waits_long() -> None:
    bucket = TokenBucket(0.5, now=0.0)
    assert bucket.burst == 1.0
    assert bucket.take(0.0) == 0.0
    assert bucket.take(0.0) == pytest.approx(2.0)
    assert bucket.take(1.0) == pytest.approx(1.0)
    assert bucket.take(2.0) == 0.0


def test_a_clock_that_steps_back_takes_nothing_away() -> None:
    bucket = TokenBucket(1.0, now=10.0)
    assert bucket.take(5.0) == 0.0
    assert bucket.take(10.5) == pytest.approx(0.5)


def test_a_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(0.0, now=0.0)
