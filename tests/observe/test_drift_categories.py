"""Drift of features with few distinct values (flags, categories, counts, constants).

Decile cut points merge such a feature's values: a flag set in 8% of the training rows had one
bin for 0 and 1 together (every decile is 0), and a feature's largest value shared the open
top bin with every larger one. So a flag going from 8% to 100% set, a constant feature taking
another value, or a category never seen in training read as no drift at all. Here each
expected PSI is computed from the raw values, as a categorical PSI over the values seen on
either side (shares floored at 1e-4), never from the profile's bins.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from inferd.observe.drift import PSI_EPSILON, DriftMonitor
from inferd.observe.profile import build_profile

RNG = np.random.default_rng(17)


def categorical_psi(reference: np.ndarray, live: np.ndarray) -> float:
    """PSI over the distinct values of both samples (each value its own category)."""
    ref, cur = Counter(reference.tolist()), Counter(live.tolist())
    total = 0.0
    for value in set(ref) | set(cur):
        p = max(ref[value] / len(reference), PSI_EPSILON)
        q = max(cur[value] / len(live), PSI_EPSILON)
        total += (q - p) * np.log(q / p)
    return float(total)


def psi_of(reference: np.ndarray, live: np.ndarray) -> float:
    monitor = DriftMonitor(build_profile({"x": reference[:, None]}), min_samples=1)
    for start in range(0, len(live), 50):
        monitor.observe({"x": live[start : start + 50, None]})
    (d,) = monitor.drift()
    return d.psi


def test_a_rare_flag_that_becomes_always_set_reads_as_drift() -> None:
    reference = (RNG.random(5_000) < 0.08).astype(np.float32)
    live = np.ones(1_000, dtype=np.float32)
    expected = categorical_psi(reference, live)
    assert expected > 2  # 0.92 of the rows moved
    assert psi_of(reference, live) == pytest.approx(expected, rel=1e-9)


def test_a_constant_feature_taking_another_value_reads_as_drift() -> None:
    reference = np.zeros(2_000, dtype=np.int64)
    for other in (1, -1):
        live = np.full(600, other, dtype=np.int64)
        expected = categorical_psi(reference, live)
        assert psi_of(reference, live) == pytest.approx(expected, rel=1e-9)
        assert expected > 10


def test_a_category_never_seen_in_training_reads_as_drift() -> None:
    reference = RNG.integers(0, 3, 5_000).astype(np.float32)  # categories 0, 1, 2
    live = RNG.integers(0, 3, 1_000).astype(np.float32)
    live[RNG.random(1_000) < 0.2] = 3.0  # a new category in a fifth of the rows
    expected = categorical_psi(reference, live)
    assert psi_of(reference, live) == pytest.approx(expected, rel=1e-9)
    assert expected > 0.2


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int64])
def test_the_training_distribution_of_a_categorical_feature_reads_as_no_drift(
    dtype: type[np.generic],
) -> None:
    values = np.array([1.0, 2.0, 5.0, 7.0])
    reference = RNG.choice(values, p=[0.05, 0.5, 0.4, 0.05], size=5_000)
    live = RNG.choice(values, p=[0.05, 0.5, 0.4, 0.05], size=2_000).astype(dtype)
    got = psi_of(reference, live)
    assert got == pytest.approx(categorical_psi(reference, live.astype(np.float64)), rel=1e-9)
    assert got < 0.02


def test_a_continuous_feature_keeps_its_deciles() -> None:
    reference = RNG.normal(size=5_000)
    profile = build_profile({"x": reference[:, None]})
    assert len(profile.inputs[0].features[0].edges) == 9
    # Values beyond the training maximum land in the top decile, as before: no extra bin.
    live = np.full(600, reference.max() + 1.0)
    monitor = DriftMonitor(profile, min_samples=1)
    monitor.observe({"x": live[:, None]})
    (d,) = monitor.drift()
    p = np.array([*profile.inputs[0].features[0].proportions, 0.0])
    q = np.zeros_like(p)
    q[-2] = 1.0
    p, q = np.maximum(p, PSI_EPSILON), np.maximum(q, PSI_EPSILON)
    assert d.psi == pytest.approx(float(np.sum((q - p) * np.log(q / p))), rel=1e-9)


def test_an_amount_that_is_mostly_zero_reads_as_drift_when_it_stops_being_zero() -> None:
    # 95% zeros, 5% positive amounts: every decile is 0.
    reference = np.where(RNG.random(5_000) < 0.95, 0.0, RNG.exponential(50.0, 5_000))
    live = RNG.exponential(50.0, 1_000) + 1.0  # every row now holds an amount
    profile = build_profile({"x": reference[:, None]})
    smallest = reference[reference > 0].min()
    assert profile.inputs[0].features[0].edges == (0.0, smallest)
    # Independently: two categories, zero and positive.
    expected = categorical_psi(reference > 0, live > 0)
    assert expected > 5
    assert psi_of(reference, live) == pytest.approx(expected, rel=1e-9)


def test_an_amount_that_is_mostly_zero_reads_no_drift_on_its_own_distribution() -> None:
    reference = np.where(RNG.random(5_000) < 0.6, 0.0, RNG.exponential(50.0, 5_000))
    live = np.where(RNG.random(2_000) < 0.6, 0.0, RNG.exponential(50.0, 2_000))
    features = build_profile({"x": reference[:, None]}).inputs[0].features[0]
    assert features.edges[0] == 0.0
    assert features.edges[1] == reference[reference > 0].min()
    assert psi_of(reference, live) < 0.05
