"""The autoscaling decision, in the manner of Knative's KPA: a pure function of (policy,
signals, state, now) → desired replicas, and the state for next time.

* Two windows average the metric: the **stable** window decides normally; the **panic**
  window (shorter) catches bursts. When the panic window asks for ``panic_threshold`` times the
  ready replicas, panic mode starts: scale to the panic count at once and never scale down
  until the burst has been over for a whole stable window.
* Each decision moves at most ``max_scale_up_rate`` * ready replicas up and ready /
  ``max_scale_down_rate`` down.
* Stabilisation, as Kubernetes' HPA does it: scale up to the *lowest* recommendation of the
  last ``scale_up_delay_s`` (a blip does not add replicas), down to the *highest* of the last
  ``scale_down_delay_s`` (a lull does not remove them — no flapping).
* Zero: with ``min_replicas`` 0, the last replica goes once the deployment has been idle for
  ``scale_to_zero_after_s``; demand *now* (a request arriving or held) with no replica asks for
  one at once. The windows' averages outlast the requests, so they alone start nothing from
  zero: a start that failed would be retried for a whole stable window after the requests gave
  up.
* Backoff: while the last start of a replica failed and its backoff delay (the supervisor's
  restart backoff) runs, nothing is added (``start_backoff``).

The metric is the deployment's total (concurrent requests, queued requests, requests per
second, or for latency ready replicas * p95), and ``target`` is what one replica should carry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar, TypedDict

from inferd.spec.policies import AutoscalingSpec


@dataclass(frozen=True, slots=True)
class ScalingPolicy:
    min_replicas: int = 1
    max_replicas: int = 4
    target: float = 8.0
    stable_window_s: float = 60.0
    panic_window_s: float = 6.0
    panic_threshold: float = 2.0
    max_scale_up_rate: float = 1000.0
    max_scale_down_rate: float = 2.0
    scale_up_delay_s: float = 0.0
    scale_down_delay_s: float = 300.0
    #: None: never scale to zero.
    scale_to_zero_after_s: float | None = None
    #: ``min_replicas: 0`` without ``scale_to_zero_after`` idles this long before its last
    #: replica stops, as KEDA's default ``cooldownPeriod``: a zero minimum that never reached
    #: zero once woken would be a setting that does nothing.
    DEFAULT_ZERO_AFTER_S: ClassVar[float] = 300.0

    @classmethod
    def from_spec(cls, spec: AutoscalingSpec) -> ScalingPolicy:
        return cls(
            min_replicas=spec.min_replicas,
            max_replicas=spec.max_replicas,
            target=spec.target,
            stable_window_s=spec.stable_window,
            panic_window_s=spec.panic_window,
            panic_threshold=spec.panic_threshold,
            max_scale_up_rate=spec.max_scale_up_rate,
            max_scale_down_rate=spec.max_scale_down_rate,
            scale_up_delay_s=spec.scale_up_window,
            scale_down_delay_s=spec.scale_down_window,
            scale_to_zero_after_s=(
                cls.DEFAULT_ZERO_AFTER_S
                if spec.scale_to_zero_after is None and spec.min_replicas == 0
                else spec.scale_to_zero_after
            ),
        )


@dataclass(frozen=True, slots=True)
class Signals:
    """What the loop measured: the metric over both windows, replicas and idleness."""

    stable_value: float
    panic_value: float
    #: Replicas configured now (what the decision moves from).
    current: int
    #: Replicas ready to serve now.
    ready: int
    #: Seconds since the deployment last had a request in flight, held or arriving: 0 when it
    #: has one now (since the previous sample).
    idle_s: float = 0.0
    #: A replica start failed, and its backoff delay has not run out: add none yet.
    start_backoff: bool = False


@dataclass(frozen=True, slots=True)
class ScalerState:
    """What a decision leaves for the next one."""

    #: When panic mode last saw a burst (None: not in panic).
    panic_since: float | None = None
    #: Highest count asked for during this panic.
    panic_max: int = 0
    #: Recent raw recommendations, (time, replicas), oldest first.
    recent: tuple[tuple[float, int], ...] = field(default_factory=tuple)
    #: When scaling began: the count running then counts as recommended then, so nothing is
    #: removed within ``scale_down_delay_s`` of a start (None: no such guard).
    started_at: float | None = None


class DecisionRecord(TypedDict):
    """A :class:`Decision` as the status document shows it."""

    desired: int
    reason: str
    panic: bool
    stable_wants: int
    panic_wants: int


@dataclass(frozen=True, slots=True)
class Decision:
    desired: int
    #: One of :data:`REASONS`.
    reason: str
    panic: bool
    stable_wants: int
    panic_wants: int

    def to_json(self) -> DecisionRecord:
        return {"desired": self.desired, "reason": self.reason, "panic": self.panic,
                "stable_wants": self.stable_wants, "panic_wants": self.panic_wants}  # fmt: skip


#: Why the desired count is what it is (a metric label: a fixed set).
REASONS = (
    "steady", "scale_up", "scale_down", "panic", "scale_up_delayed", "scale_down_delayed",
    "scale_to_zero", "zero_grace", "scale_from_zero", "min_replicas", "max_replicas",
    "start_backoff",
)  # fmt: skip


def decide(
    policy: ScalingPolicy, signals: Signals, state: ScalerState, now: float
) -> tuple[Decision, ScalerState]:
    """The desired replica count for ``signals`` at ``now`` (see the module docstring)."""
    ready, current = max(signals.ready, 0), max(signals.current, 0)
    stable_wants = math.ceil(signals.stable_value / policy.target - 1e-9)
    panic_wants = math.ceil(signals.panic_value / policy.target - 1e-9)
    base = max(ready, 1)
    most = math.ceil(policy.max_scale_up_rate * base)
    fewest = math.floor(base / policy.max_scale_down_rate)
    stable_wants = min(max(stable_wants, fewest), most)
    panic_wants = min(max(panic_wants, fewest), most)

    panic_since, panic_max = state.panic_since, state.panic_max
    if panic_wants >= policy.panic_threshold * base and panic_wants > ready:
        panic_since, panic_max = now, max(panic_max, panic_wants)
    elif panic_since is not None and now - panic_since >= policy.stable_window_s:
        panic_since, panic_max = None, 0

    if panic_since is not None:
        raw, reason = max(panic_wants, panic_max, current), "panic"
    else:
        raw, reason = stable_wants, ""
    horizon = max(policy.scale_up_delay_s, policy.scale_down_delay_s)
    recent = (*(r for r in state.recent if now - r[0] <= horizon), (now, raw))
    desired = raw
    if reason != "panic":
        held = state.started_at is not None and now - state.started_at < policy.scale_down_delay_s
        desired, reason = _stabilise(policy, recent, raw, current, now, hold_down=held)
    desired, reason = _bounds(policy, signals, desired, reason, current)
    if signals.start_backoff and desired > current:
        desired, reason = current, "start_backoff"
    decision = Decision(desired, reason, panic_since is not None, stable_wants, panic_wants)
    return decision, ScalerState(panic_since, panic_max, recent, state.started_at)


def _stabilise(
    policy: ScalingPolicy,
    recent: tuple[tuple[float, int], ...],
    raw: int,
    current: int,
    now: float,
    *,
    hold_down: bool,
) -> tuple[int, str]:
    """Scale up to the lowest recent recommendation, down to the highest (HPA behaviour);
    ``hold_down``: still within the scale-down delay of the start, keep what runs."""
    if raw > current:
        up = min(r for t, r in recent if now - t <= policy.scale_up_delay_s)
        if up > current:
            return up, "scale_up"
        return current, "scale_up_delayed"
    if raw < current:
        down = max(r for t, r in recent if now - t <= policy.scale_down_delay_s)
        if down < current and not hold_down:
            return down, "scale_down"
        return current, "scale_down_delayed"
    return current, "steady"


def _bounds(
    policy: ScalingPolicy, signals: Signals, desired: int, reason: str, current: int
) -> tuple[int, str]:
    demand = signals.idle_s == 0 and (signals.stable_value > 0 or signals.panic_value > 0)
    if desired <= 0 and policy.min_replicas == 0:
        if demand and signals.ready == 0:
            return 1, "scale_from_zero"
        if current == 0:
            return 0, "steady"
        grace = policy.scale_to_zero_after_s
        if grace is None or signals.idle_s < grace:
            return 1, "zero_grace"  # not idle long enough: keep one replica
        return 0, "scale_to_zero"
    if current == 0 and demand:
        return min(max(desired, 1, policy.min_replicas), policy.max_replicas), "scale_from_zero"
    if current == 0 and policy.min_replicas == 0:
        return 0, "steady"  # the windows still remember requests that are gone
    if desired < policy.min_replicas or (
        reason == "scale_down_delayed" and desired <= policy.min_replicas
    ):  # a delayed scale down at the minimum would take nothing away: it is held there
        return policy.min_replicas, "min_replicas"
    if desired > policy.max_replicas:
        return policy.max_replicas, "max_replicas"
    return desired, reason
