"""What a window measured, per version: load percentiles, CPU per request, peak memory, GPU
busy share and batch sizes, from the sampler's intervals."""

from __future__ import annotations

import pytest

from inferd.cost.accounting import ReplicaSlice, VersionInterval
from inferd.cost.capacity import Capacity
from inferd.cost.usage import add_buckets, percentile, usage

HELD = Capacity(1.0, 1.0)


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 0.95, 0.0),
        ([3.0], 0.95, 3.0),
        ([5.0, 1.0, 4.0, 2.0, 3.0], 0.5, 3.0),
        (list(range(1, 21)), 0.95, 19),
        (list(range(1, 21)), 1.0, 20),
    ],
)
def test_nearest_rank_percentiles(values: list[float], q: float, expected: float) -> None:
    assert percentile(values, q) == expected


def test_usage_of_a_version_over_its_intervals() -> None:
    def interval(end: float, requests: int, cores: float, peak: float) -> VersionInterval:
        replicas = tuple(
            ReplicaSlice(5.0, HELD, Capacity(cores, 0.1), peak_gib=peak) for _ in range(2)
        )
        return VersionInterval(
            "fraud", "v1", end, 5.0, replicas, predictions=requests - 1, requests=requests,
            concurrency=(0.0, 1.0, 2.0), batches=((1.0, 10.0), (2.0, 12.0), (float("inf"), 12.0)),
        )  # fmt: skip

    (u,) = usage(
        [interval(5, 50, 0.1, 0.2), interval(10, 100, 0.2, 0.3), interval(15, 25, 0.05, 0.1)]
    )
    assert (u.seconds, u.replicas, u.requests, u.predictions) == (15, 2, 175, 172)
    assert (u.rps_p50, u.rps_p95, u.rps_max) == (10, 20, 20)
    assert (u.concurrency_p50, u.concurrency_p95) == (1, 2)
    assert u.cores_p95 == pytest.approx(0.4)  # two replicas at 0.2 cores
    # CPU seconds: 2 x 5 s x (0.1 + 0.2 + 0.05) = 3.5, over 175 requests
    assert u.cpu_seconds_per_request == pytest.approx(0.02)
    assert u.peak_gib == 0.3
    assert u.gpu_busy_p95 is None and u.gpu_memory_gib is None
    assert u.batches == ((1.0, 30.0), (2.0, 36.0), (float("inf"), 36.0))


def test_gpu_busy_share_is_of_what_was_held() -> None:
    gpu = ReplicaSlice(5.0, Capacity(1, 1, 0.5), Capacity(0.1, 0.1, 0.1), gpu_memory_gib=6.0)
    (u,) = usage([VersionInterval("llm", "v1", 5, 5.0, (gpu,))])
    assert u.gpu_busy_p95 == pytest.approx(0.2)
    assert u.gpu_memory_gib == 6.0
    assert u.cpu_seconds_per_request is None


def test_buckets_add_up_by_bound() -> None:
    assert add_buckets([((1.0, 2.0), (2.0, 3.0)), ((1.0, 1.0), (2.0, 5.0))]) == (
        (1.0, 3.0),
        (2.0, 8.0),
    )
