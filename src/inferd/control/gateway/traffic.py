"""Recent traffic per version, for the status document and the dashboard.

Prometheus keeps the totals; people looking at a dashboard want "now": requests per second,
error rate and latency percentiles over the last few seconds. A :class:`Window` keeps one slot
per second (a ring), each with counts and a bounded sample of latencies, so recording costs O(1)
and memory is bounded whatever the request rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypedDict

import numpy as np

#: Seconds the window covers.
WINDOW_S = 10
#: Latencies kept per one-second slot; beyond it, newer ones overwrite older ones in the slot.
SAMPLES_PER_SLOT = 1024


@dataclass(slots=True)
class _Slot:
    second: int = -1
    requests: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)

    def reset(self, second: int) -> None:
        self.second = second
        self.requests = 0
        self.errors = 0
        self.latencies.clear()


@dataclass(frozen=True, slots=True)
class TrafficSummary:
    """What a window saw; latencies in milliseconds, None without requests."""

    rps: float
    error_rate: float
    p50_ms: float | None
    p99_ms: float | None
    requests: int


class Window:
    """Requests, errors and latencies of the last :data:`WINDOW_S` seconds."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._started = clock()
        self._slots = [_Slot() for _ in range(WINDOW_S)]

    def record(self, seconds: float, error: bool) -> None:
        now = int(self._clock())
        slot = self._slots[now % WINDOW_S]
        if slot.second != now:
            slot.reset(now)
        if len(slot.latencies) < SAMPLES_PER_SLOT:
            slot.latencies.append(seconds)
        else:
            slot.latencies[slot.requests % SAMPLES_PER_SLOT] = seconds
        slot.requests += 1
        slot.errors += error

    def summary(self) -> TrafficSummary:
        """Rates over the complete seconds of the window plus the current one."""
        clock = self._clock()
        now = int(clock)
        live = [s for s in self._slots if now - WINDOW_S < s.second <= now]
        requests = sum(s.requests for s in live)
        errors = sum(s.errors for s in live)
        latencies = [x for s in live for x in s.latencies]
        # The current second is partly elapsed: count only the time that actually passed.
        # A window younger than WINDOW_S divides by its age, not the full span.
        span = max(min((WINDOW_S - 1) + (clock - now), clock - self._started), 1e-3)
        p50, p99 = (
            (float(v) * 1000 for v in np.percentile(latencies, [50, 99]))
            if latencies
            else (None, None)
        )
        return TrafficSummary(
            rps=requests / span,
            error_rate=errors / requests if requests else 0.0,
            p50_ms=p50,
            p99_ms=p99,
            requests=requests,
        )


class OutputDivergence(TypedDict):
    """One output's divergence over a pairing's comparisons (see :mod:`.compare` for kinds)."""

    kind: str
    mean: float
    comparisons: int


class TallyRecord(TypedDict):
    compared: int
    uncompared: int
    #: Refused (4xx) where the primary refused the same request too, or had no answer.
    client_error: int
    #: Refused (4xx) where the primary answered the same request: the shadow's refusal.
    refused: int
    failed: int
    timeout: int
    dropped: int
    divergence: dict[str, OutputDivergence]


@dataclass(slots=True)
class ShadowTally:
    """Running totals of one shadow pairing, for the status document."""

    compared: int = 0
    uncompared: int = 0
    client_error: int = 0
    refused: int = 0
    failed: int = 0
    timeout: int = 0
    dropped: int = 0
    #: Per output: (sum of divergence values, comparisons, kind).
    outputs: dict[str, tuple[float, int, str]] = field(default_factory=dict)

    def count(self, outcome: str) -> None:
        """One more copy with ``outcome`` (one of the metrics' SHADOW_OUTCOMES)."""
        if outcome == "compared":
            self.compared += 1
        elif outcome == "uncompared":
            self.uncompared += 1
        elif outcome == "client_error":
            self.client_error += 1
        elif outcome == "refused":
            self.refused += 1
        elif outcome == "failed":
            self.failed += 1
        elif outcome == "timeout":
            self.timeout += 1
        else:
            self.dropped += 1

    def add(self, output: str, kind: str, value: float) -> None:
        total, n, _ = self.outputs.get(output, (0.0, 0, kind))
        self.outputs[output] = (total + value, n + 1, kind)

    def as_dict(self) -> TallyRecord:
        return {
            "compared": self.compared,
            "uncompared": self.uncompared,
            "client_error": self.client_error,
            "refused": self.refused,
            "failed": self.failed,
            "timeout": self.timeout,
            "dropped": self.dropped,
            "divergence": {
                name: {"kind": kind, "mean": total / n if n else 0.0, "comparisons": n}
                for name, (total, n, kind) in sorted(self.outputs.items())
            },
        }
