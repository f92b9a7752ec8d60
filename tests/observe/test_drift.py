"""DriftMonitor and DriftCollector: PSI and KS against scipy on known distributions, bounded
labels, and the exposition a real Prometheus registry renders."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from scipy import special, stats

from inferd.observe.drift import (
    MAX_VALUES_PER_BATCH,
    MIN_SAMPLES,
    PSI_EPSILON,
    DriftCollector,
    DriftMonitor,
    ks,
    psi,
)
from inferd.observe.profile import build_profile

RNG = np.random.default_rng(42)
REFERENCE = RNG.normal(0.0, 1.0, size=(20_000, 3)).astype(np.float32)


def _feed(monitor: DriftMonitor, rows: np.ndarray) -> None:
    """Show ``rows`` in batches small enough to be counted whole."""
    for start in range(0, len(rows), 100):
        monitor.observe({"input": rows[start : start + 100]})


def _by_feature(monitor: DriftMonitor) -> dict[str, tuple[float, float]]:
    return {d.feature: (d.psi, d.ks) for d in monitor.drift()}


def test_psi_is_the_symmetric_kl_divergence_scipy_computes() -> None:
    p = np.array([0.1, 0.2, 0.3, 0.4])
    q = np.array([0.25, 0.25, 0.25, 0.25])
    expected = float(np.sum(special.rel_entr(q, p) + special.rel_entr(p, q)))
    assert psi(p, q) == pytest.approx(expected)
    assert psi(p, p) == 0.0
    # An empty live bin is floored at epsilon, not infinite.
    assert np.isfinite(psi(p, np.array([0.0, 0.0, 0.5, 0.5])))


def test_same_distribution_stays_low_and_a_shift_rises() -> None:
    profile = build_profile({"input": REFERENCE})
    same, shifted = DriftMonitor(profile), DriftMonitor(profile)
    live = RNG.normal(0.0, 1.0, size=(5_000, 3))
    moved = live + np.array([0.0, 0.5, 3.0])
    for start in range(0, 5_000, 32):  # batches, as the worker sees them
        same.observe({"input": live[start : start + 32]})
        shifted.observe({"input": moved[start : start + 32]})

    for feature, (value, _) in _by_feature(same).items():
        assert value < 0.02, feature
    drifted = _by_feature(shifted)
    assert drifted["0"][0] < 0.02
    assert 0.1 < drifted["1"][0] < 0.5  # half a standard deviation: moderate
    assert drifted["2"][0] > 2.0  # three standard deviations: almost all in the last bin

    # Binned KS is the two-sample KS statistic evaluated at the reference deciles: close to
    # scipy's exact one on the raw samples, never far above it.
    for i in range(3):
        exact = stats.ks_2samp(REFERENCE[:, i], moved[:, i]).statistic
        binned = drifted[str(i)][1]
        assert binned == pytest.approx(exact, abs=0.03)


def test_ks_of_binned_cdfs() -> None:
    assert ks(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == 0.0
    assert ks(np.array([0.5, 0.25, 0.25]), np.array([0.0, 0.5, 0.5])) == pytest.approx(0.5)


def test_nothing_is_reported_before_min_samples() -> None:
    monitor = DriftMonitor(build_profile({"input": REFERENCE}))
    _feed(monitor, REFERENCE[: MIN_SAMPLES - 1])
    assert monitor.drift() == []
    assert monitor.samples() == {"input": MIN_SAMPLES - 1}
    monitor.observe({"input": REFERENCE[:1]})
    assert len(monitor.drift()) == 3


def test_inputs_it_cannot_compare_are_ignored() -> None:
    monitor = DriftMonitor(build_profile({"input": REFERENCE}), min_samples=1)
    monitor.observe({"input": np.zeros((4, 5), np.float32)})  # wrong width
    monitor.observe({"input": np.array([["a", "b", "c"]])})  # not numeric
    monitor.observe({"other": np.zeros((4, 3))})  # an input the profile does not describe
    assert monitor.samples() == {"input": 0}


def test_large_batches_are_strided_not_fully_binned() -> None:
    monitor = DriftMonitor(build_profile({"input": REFERENCE}), min_samples=1)
    monitor.observe({"input": REFERENCE[:10_000]})
    seen = monitor.samples()["input"]
    assert MAX_VALUES_PER_BATCH // 3 // 2 <= seen <= MAX_VALUES_PER_BATCH // 3
    assert all(d.psi < 0.1 for d in monitor.drift())  # a stride is still a fair sample


def test_padded_bins_of_a_low_cardinality_feature() -> None:
    data = np.column_stack([RNG.integers(0, 3, 5_000), RNG.normal(size=5_000)])
    profile = build_profile({"x": data})
    assert len(profile.inputs[0].features[0].edges) < 9  # merged equal quantiles
    monitor = DriftMonitor(profile, min_samples=1)
    monitor.observe({"x": data[:1_000]})
    assert all(d.psi < 0.05 for d in monitor.drift())
    assert PSI_EPSILON > 0


def _samples(registry: CollectorRegistry) -> list[tuple[str, dict[str, str], float]]:
    text = generate_latest(registry).decode()
    return [
        (s.name, s.labels, s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def test_collector_labels_come_only_from_the_card() -> None:
    collector = DriftCollector()
    registry = CollectorRegistry()
    registry.register(collector)
    monitor = DriftMonitor(build_profile({"input": REFERENCE}))
    collector.watch("fraud", "v2", monitor)
    _feed(monitor, REFERENCE[:600] + 5.0)
    # Whatever clients send under other names never becomes a label.
    monitor.observe({f"attacker-{i}": REFERENCE[:10] for i in range(50)})

    found = _samples(registry)
    psi_rows = [(labels, v) for name, labels, v in found if name == "inferd_input_drift_psi"]
    assert {labels["feature"] for labels, _ in psi_rows} == {"0", "1", "2"}
    assert all(labels["input"] == "input" and labels["model"] == "fraud" for labels, _ in psi_rows)
    assert all(v > 0.2 for _, v in psi_rows)
    ks_rows = [labels for name, labels, _ in found if name == "inferd_input_drift_ks"]
    assert len(ks_rows) == 3
    assert ("inferd_input_drift_samples_total", {"model": "fraud", "version": "v2",
            "input": "input"}, 600.0) in found  # fmt: skip

    collector.forget("fraud", "v2")
    collector.forget("fraud", "v2")  # idempotent
    assert not [name for name, _, _ in _samples(registry) if name.startswith("inferd_input")]


def test_promtool_accepts_the_drift_exposition(promtool: str) -> None:
    collector = DriftCollector()
    registry = CollectorRegistry()
    registry.register(collector)
    monitor = DriftMonitor(build_profile({"input": REFERENCE}))
    collector.watch("fraud", "v1", monitor)
    _feed(monitor, REFERENCE[:600])
    text = generate_latest(registry)
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, check=False
    )
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    assert checked.stdout.strip() == b"" and checked.stderr.strip() == b""


def test_strided_batches_of_sequences_sample_every_position() -> None:
    # A [B, T, F] input: each position t of the sequence holds its own distribution, and the
    # profile describes all of them. A stride equal to T must not keep only position 0.
    steps, batch = 4, 64
    centres = np.arange(steps, dtype=np.float32) * 2.0
    train = RNG.normal(size=(5_000, steps, 8)).astype(np.float32) + centres[None, :, None]
    monitor = DriftMonitor(build_profile({"input": train.reshape(-1, 8)}))
    for start in range(0, 5_000 - batch, batch):
        monitor.observe({"input": train[start : start + batch]})  # 256 rows: a stride of 4
    assert monitor.samples()["input"] >= MIN_SAMPLES
    assert max(d.psi for d in monitor.drift()) < 0.05
