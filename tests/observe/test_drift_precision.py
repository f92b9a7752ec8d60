"""Reference data in float64 (a CSV, a pandas frame saved with np.save) for a model whose input
is FP32: an edge is an observed reference value, and the same value as FP32 can sit just below
its float64 self (0.7 → 0.69999998), so live rows equal to an edge must not fall a bin lower."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from inferd.observe.drift import DriftMonitor
from inferd.observe.profile import build_profile

VALUES = [0.5, 0.7, 0.9, 1.1, 1.3]


@pytest.mark.parametrize("live_dtype", [np.float32, np.float16, np.float64])
def test_the_training_distribution_sent_as_fp32_reads_as_no_drift(
    live_dtype: type[np.floating[Any]],
) -> None:
    rng = np.random.default_rng(0)
    profile = build_profile({"input": rng.choice(VALUES, size=(5_000, 2))})
    monitor = DriftMonitor(profile)
    live = rng.choice(VALUES, size=(1_000, 2)).astype(live_dtype)
    for start in range(0, len(live), 10):
        monitor.observe({"input": live[start : start + 10]})
    drift = monitor.drift()
    assert len(drift) == 2
    assert max(d.psi for d in drift) < 0.05, drift


def test_a_shift_in_fp32_still_reads_as_drift() -> None:
    rng = np.random.default_rng(1)
    profile = build_profile({"input": rng.choice(VALUES, size=(5_000, 1))})
    monitor = DriftMonitor(profile)
    live = rng.choice(VALUES[2:], size=(1_000, 1)).astype(np.float32)
    monitor.observe({"input": live})  # strided to 512 rows
    for start in range(0, len(live), 10):
        monitor.observe({"input": live[start : start + 10]})
    (drift,) = monitor.drift()
    assert drift.psi > 0.2
