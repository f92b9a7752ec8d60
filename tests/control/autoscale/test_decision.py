"""The autoscaling decision as tables: one-shot cases of the pure function, and sequences
through the stateful wrapper (ramp up, panic, flapping suppression, scale-down delay, zero)."""

from __future__ import annotations

import pytest

from inferd.control.autoscale.decision import (
    REASONS,
    ScalerState,
    ScalingPolicy,
    Signals,
    decide,
)
from inferd.control.autoscale.scaler import Autoscaler
from inferd.spec.policies import AutoscalingSpec

#: Target 10 per replica, no delays: the plain arithmetic shows.
PLAIN = ScalingPolicy(
    min_replicas=1, max_replicas=10, target=10, stable_window_s=60, panic_window_s=6,
    scale_down_delay_s=0,
)  # fmt: skip
ZERO = ScalingPolicy(
    min_replicas=0, max_replicas=4, target=10, scale_down_delay_s=0, scale_to_zero_after_s=30
)

ONE_SHOT = [
    # (id, policy, signals, desired, reason)
    ("steady at target", PLAIN, Signals(20, 20, 2, 2), 2, "steady"),
    ("ramp up to the stable need", PLAIN, Signals(30, 30, 2, 2), 3, "scale_up"),
    ("just over a multiple rounds up", PLAIN, Signals(20.5, 20.5, 2, 2), 3, "scale_up"),
    ("scale down when load falls", PLAIN, Signals(10, 10, 2, 2), 1, "scale_down"),
    ("down at most half per decision", PLAIN, Signals(0, 0, 8, 8), 4, "scale_down"),
    # Knative's rate: N ready go down to no fewer than floor(N / rate) (docs/autoscaling.md).
    ("down to floor(ready / rate)", PLAIN, Signals(0, 0, 3, 3), 1, "scale_down"),
    ("never below min_replicas", ScalingPolicy(min_replicas=2, target=10, scale_down_delay_s=0),
     Signals(0, 0, 2, 2), 2, "min_replicas"),
    ("never above max_replicas", PLAIN, Signals(500, 500, 10, 10), 10, "max_replicas"),
    ("up-rate limit", ScalingPolicy(max_replicas=64, target=1, max_scale_up_rate=2,
     scale_down_delay_s=0, panic_threshold=1000), Signals(50, 50, 2, 2), 4, "scale_up"),
    ("burst enters panic", PLAIN, Signals(10, 60, 1, 1), 6, "panic"),
    ("panic needs the threshold", PLAIN, Signals(15, 25, 2, 2), 2, "steady"),
    ("panic counts from ready replicas", PLAIN, Signals(10, 60, 3, 1), 6, "panic"),
    ("scale from zero on demand", ZERO, Signals(0.2, 0.2, 0, 0), 1, "scale_from_zero"),
    ("big demand from zero", ZERO, Signals(30, 30, 0, 0), 3, "scale_from_zero"),
    ("idle long enough: zero", ZERO, Signals(0, 0, 1, 1, idle_s=31), 0, "scale_to_zero"),
    ("idle, not long enough: keep one", ZERO, Signals(0, 0, 1, 1, idle_s=5), 1, "zero_grace"),
    ("at zero with no demand stays", ZERO, Signals(0, 0, 0, 0, idle_s=100), 0, "steady"),
    # The windows outlast the requests: without one now, their average starts nothing.
    ("at zero, requests gone: stays", ZERO, Signals(0.2, 0.2, 0, 0, idle_s=2), 0, "steady"),
    ("at zero, big demand gone: stays", ZERO, Signals(30, 30, 0, 0, idle_s=2), 0, "steady"),
    # A start failed and its backoff runs: nothing is added, down is still allowed.
    ("backoff holds a start from zero", ZERO, Signals(0.2, 0.2, 0, 0, start_backoff=True), 0,
     "start_backoff"),
    ("backoff holds a scale up", PLAIN, Signals(30, 30, 2, 2, start_backoff=True), 2,
     "start_backoff"),
    ("backoff holds min_replicas", ScalingPolicy(min_replicas=2, target=10),
     Signals(0, 0, 1, 1, start_backoff=True), 1, "start_backoff"),
    ("backoff lets it scale down", PLAIN, Signals(10, 10, 2, 2, start_backoff=True), 1,
     "scale_down"),
    ("min 0 without scale_to_zero_after keeps one", ScalingPolicy(min_replicas=0, target=10,
     scale_down_delay_s=0), Signals(0, 0, 1, 1, idle_s=1e9), 1, "zero_grace"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("policy", "signals", "desired", "reason"),
    [c[1:] for c in ONE_SHOT],
    ids=[c[0] for c in ONE_SHOT],
)
def test_one_decision(policy: ScalingPolicy, signals: Signals, desired: int, reason: str) -> None:
    decision, _ = decide(policy, signals, ScalerState(), now=1000.0)
    assert (decision.desired, decision.reason) == (desired, reason)
    assert decision.reason in REASONS


def run(policy: ScalingPolicy, steps: list[tuple[float, float]], start: int = 1) -> list[int]:
    """Feed (time, metric) samples, apply every decision at once; the counts decided."""
    scaler = Autoscaler(policy)
    current, out = start, []
    for now, value in steps:
        scaler.observe(now, value)
        current = scaler.decide(now, current, current, idle_s=0 if value else 1e9).desired
        out.append(current)
    return out


def test_ramp_up_follows_the_stable_average() -> None:
    policy = ScalingPolicy(max_replicas=10, target=10, stable_window_s=3, panic_threshold=100)
    counts = run(policy, [(t, 10.0 * (t + 1)) for t in range(6)])
    assert counts == sorted(counts) and counts[0] == 1 and counts[-1] >= 4


def test_panic_jumps_then_holds_until_a_stable_window_passes() -> None:
    policy = ScalingPolicy(
        max_replicas=8, target=10, stable_window_s=10, panic_window_s=0.5, scale_down_delay_s=0
    )
    burst = [(0.0, 5.0), (1.0, 80.0), (2.0, 0.0), (5.0, 0.0), (10.5, 0.0), (12.0, 0.0)]
    counts = run(policy, burst)
    assert counts[1] == 8  # panic: straight to the burst's need
    assert counts[2] == counts[3] == 8  # in panic: never down
    assert counts[-1] < 8  # the burst is a whole stable window old: down again


def test_flapping_is_suppressed_by_the_scale_down_delay() -> None:
    policy = ScalingPolicy(
        max_replicas=8, target=10, stable_window_s=0.1, panic_threshold=100, scale_down_delay_s=5
    )
    wave = [(float(t), 30.0 if t % 2 == 0 else 5.0) for t in range(8)]
    counts = run(policy, wave)
    assert counts[0] == 3
    assert all(c == 3 for c in counts), counts  # lulls shorter than the delay remove nothing


def test_scale_down_waits_for_the_delay() -> None:
    policy = ScalingPolicy(
        max_replicas=8, target=10, stable_window_s=1, panic_threshold=100, scale_down_delay_s=3
    )
    quiet = [(t, 0.0) for t in (1.0, 2.0, 3.5, 5.0, 6.5, 8.0)]
    counts = run(policy, [(0.0, 40.0), *quiet], start=4)
    # Held for the delay, then down at most half the replicas per decision.
    assert counts == [4, 4, 4, 2, 2, 2, 1]


def test_scale_up_delay_ignores_a_blip() -> None:
    policy = ScalingPolicy(
        max_replicas=8, target=10, stable_window_s=0.5, panic_threshold=100,
        scale_up_delay_s=2, scale_down_delay_s=0,
    )  # fmt: skip
    counts = run(policy, [(0.0, 10.0), (1.0, 40.0), (2.0, 10.0), (3.0, 40.0), (4.0, 40.0)])
    assert counts[:4] == [1, 1, 1, 1]
    assert counts[4] == 1  # the 2 s window still holds the dip at t=2
    assert run(policy, [(float(t), 40.0) for t in range(5)])[-1] == 4


def test_to_zero_after_idle_and_back() -> None:
    policy = ScalingPolicy(
        min_replicas=0, max_replicas=4, target=1, stable_window_s=1, panic_window_s=0.5,
        scale_down_delay_s=0, scale_to_zero_after_s=2,
    )  # fmt: skip
    scaler = Autoscaler(policy)
    scaler.observe(0.0, 0.0)
    assert scaler.decide(0.0, 1, 1, idle_s=1).desired == 1
    scaler.observe(3.0, 0.0)
    assert scaler.decide(3.0, 1, 1, idle_s=3).reason == "scale_to_zero"
    scaler.observe(4.0, 1.0)
    decision = scaler.decide(4.0, 0, 0, idle_s=0)
    assert (decision.desired, decision.reason) == (1, "scale_from_zero")


def test_window_average() -> None:
    scaler = Autoscaler(ScalingPolicy(stable_window_s=10, panic_window_s=2))
    for t, v in [(0.0, 10.0), (5.0, 20.0), (9.0, 30.0), (11.0, 40.0)]:
        scaler.observe(t, v)
    assert scaler.average(11.0, 10) == pytest.approx(30.0)
    assert scaler.average(11.0, 2) == pytest.approx(35.0)
    assert scaler.average(30.0, 2) == 0.0


def test_replicas_running_at_start_stay_for_the_scale_down_delay() -> None:
    policy = ScalingPolicy(target=10, stable_window_s=1, scale_down_delay_s=3)
    counts = run(policy, [(t, 0.0) for t in (0.0, 1.0, 2.0, 3.5)], start=2)
    assert counts == [2, 2, 2, 1]


@pytest.mark.parametrize(
    ("fields", "after_s"),
    [
        ({"min_replicas": 0}, 300.0),
        ({"min_replicas": 0, "scale_to_zero_after": "30s"}, 30.0),
        ({"min_replicas": 1}, None),
    ],
)
def test_a_zero_minimum_idles_five_minutes_unless_told(
    fields: dict[str, object], after_s: float | None
) -> None:
    """``min_replicas: 0`` alone reaches zero after KEDA's default cooldown, not never."""
    policy = ScalingPolicy.from_spec(AutoscalingSpec.model_validate(fields))
    assert policy.scale_to_zero_after_s == after_s
    if after_s is not None:
        decision, _ = decide(policy, Signals(0, 0, 1, 1, idle_s=after_s), ScalerState(), now=1e6)
        assert (decision.desired, decision.reason) == (0, "scale_to_zero")


def test_at_min_replicas_a_remembered_request_is_not_a_delayed_scale_down() -> None:
    """With the scale-down delay remembering a past request, a version already at
    ``min_replicas`` read ``scale_down_delayed`` for the whole delay (``inferd ps``, the
    decisions counter), though nothing could go down: it is held at its minimum."""
    policy = ScalingPolicy(min_replicas=1, max_replicas=4, target=10, scale_down_delay_s=300)
    state = ScalerState()
    _, state = decide(policy, Signals(5, 5, 1, 1), state, now=100.0)
    decision, _ = decide(policy, Signals(0, 0, 1, 1), state, now=200.0)
    assert (decision.desired, decision.reason) == (1, "min_replicas")
    # Above the minimum the delay still holds a scale down, and says so.
    _, state = decide(policy, Signals(20, 20, 2, 2), ScalerState(), now=100.0)
    decision, _ = decide(policy, Signals(0, 0, 2, 2), state, now=200.0)
    assert (decision.desired, decision.reason) == (2, "scale_down_delayed")
