"""Overflowing values (+inf) count in a feature's own last bin, however many bins it has: for a
feature with few distinct values, the bin above its training maximum, where the reference holds
none."""

from __future__ import annotations

import numpy as np

from inferd.observe.drift import DriftMonitor, ks, psi
from inferd.observe.profile import build_profile

RNG = np.random.default_rng(7)


def test_inf_lands_in_the_last_bin_of_a_low_cardinality_feature() -> None:
    data = np.column_stack([RNG.integers(0, 3, 5_000), RNG.normal(size=5_000)]).astype(float)
    profile = build_profile({"x": data})
    feature = profile.inputs[0].features[0]
    assert len(feature.edges) < 9  # fewer bins than the normal feature beside it
    monitor = DriftMonitor(profile, min_samples=1)
    rows = np.column_stack([np.full(100, np.inf), RNG.normal(size=100)])
    monitor.observe({"x": rows})
    # Every row is above the feature's largest training value (2), in the bin after its own.
    assert feature.edges == (0.0, 1.0, 2.0)
    reference = np.asarray([*feature.proportions, 0.0], dtype=np.float64)
    live = np.zeros_like(reference)
    live[-1] = 1.0
    low = next(d for d in monitor.drift() if d.feature == feature.name)
    assert low.psi == psi(reference, live)
    assert low.ks == ks(reference, live)
