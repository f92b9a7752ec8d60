"""What the sampler takes from replicas' ``/metrics`` (batch sizes, counted again after a
restart) and from NVML samples (busy share, memory, product)."""

from __future__ import annotations

import math

from inferd.control.cost.gpus import gpu_reading
from inferd.control.cost.scrapes import BatchCounts, batch_histogram
from inferd.observe.gpu import GpuSample

from .conftest import BATCHES, replica


def test_batch_histogram_of_an_exposition() -> None:
    rows, buckets = batch_histogram(BATCHES.format(ones=3, all=5, rows=7) + "other_metric 1\n")
    assert rows == 7
    assert buckets == ((1.0, 3.0), (2.0, 5.0), (math.inf, 5.0))


def test_batches_added_per_version_and_after_a_restart() -> None:
    counts = BatchCounts()
    a = replica("fraud-v1-1", "v1", 11, 0)
    first = counts.added([(a, BATCHES.format(ones=3, all=5, rows=7))], [a])
    assert first == {("fraud", "v1"): (7, ((1.0, 3.0), (2.0, 5.0), (math.inf, 5.0)))}
    more = counts.added([(a, BATCHES.format(ones=4, all=8, rows=12))], [a])
    assert more == {("fraud", "v1"): (5, ((1.0, 1.0), (2.0, 3.0), (math.inf, 3.0)))}
    assert counts.added([], [a]) == {}  # a failed scrape keeps the last reading
    again = counts.added([(a, BATCHES.format(ones=4, all=9, rows=14))], [a])
    assert again[("fraud", "v1")][0] == 2
    restarted = replica("fraud-v1-1", "v1", 12, 0)  # a new process counts from zero
    fresh = counts.added([(restarted, BATCHES.format(ones=1, all=1, rows=1))], [restarted])
    assert fresh[("fraud", "v1")][0] == 1


def test_gpu_reading_of_nvml_samples() -> None:
    def gpu(index: int, util: float | None, used: float) -> GpuSample:
        return GpuSample(index, f"GPU-{index}", "NVIDIA H100 80GB HBM3", 81559, used,
                         81559 - used, util, 300.0)  # fmt: skip

    reading = gpu_reading([gpu(0, 30.0, 1024), gpu(1, 10.0, 3072), gpu(2, None, 0)])
    assert reading is not None
    assert reading.product == "NVIDIA H100 80GB HBM3"
    assert reading.busy == 0.2
    assert reading.memory_used_gib == 4.0
    assert round(reading.memory_total_gib, 1) == 79.6
    assert gpu_reading([]) is None
