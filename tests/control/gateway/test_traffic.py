"""The recent-traffic window behind the dashboard's requests/s, error rate and percentiles."""

from __future__ import annotations

import pytest

from inferd.control.gateway.traffic import SAMPLES_PER_SLOT, WINDOW_S, ShadowTally, Window


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_rates_and_percentiles_over_the_window() -> None:
    clock = Clock()
    window = Window(clock)
    clock.now += WINDOW_S  # a window older than its span divides by the whole span
    for second in range(WINDOW_S):
        for i in range(100):
            window.record((i + 1) / 1000, error=i < 5)
        if second < WINDOW_S - 1:
            clock.now += 1
    clock.now += 0.999  # the current second is almost over
    summary = window.summary()
    assert summary.requests == 100 * WINDOW_S
    assert summary.rps == pytest.approx(100 * WINDOW_S / (WINDOW_S - 1 + 0.999), rel=1e-3)
    assert summary.error_rate == pytest.approx(0.05)
    assert summary.p50_ms == pytest.approx(50.5, abs=0.5)
    assert summary.p99_ms == pytest.approx(99, abs=1)


def test_old_seconds_fall_out_and_a_young_window_uses_its_age() -> None:
    clock = Clock()
    window = Window(clock)
    clock.now += 0.5
    window.record(0.002, error=False)
    young = window.summary()
    assert young.rps == pytest.approx(2.0)  # one request in half a second
    clock.now += WINDOW_S + 1
    empty = window.summary()
    assert (empty.requests, empty.rps, empty.p50_ms, empty.p99_ms) == (0, 0.0, None, None)


def test_latency_samples_per_second_are_bounded() -> None:
    clock = Clock()
    window = Window(clock)
    for _ in range(SAMPLES_PER_SLOT * 3):
        window.record(0.001, error=False)
    assert window.summary().requests == SAMPLES_PER_SLOT * 3
    assert sum(len(s.latencies) for s in window._slots) == SAMPLES_PER_SLOT


def test_shadow_tally() -> None:
    tally = ShadowTally()
    for outcome in ("compared", "compared", "uncompared", "client_error", "refused", "refused",
                    "failed", "timeout", "dropped"):  # fmt: skip
        tally.count(outcome)
    tally.add("label", "share", 0.02)
    tally.add("label", "share", 0.0)
    assert tally.as_dict() == {
        "compared": 2, "uncompared": 1, "client_error": 1, "refused": 2, "failed": 1,
        "timeout": 1, "dropped": 1,
        "divergence": {"label": {"kind": "share", "mean": 0.01, "comparisons": 2}},
    }  # fmt: skip
