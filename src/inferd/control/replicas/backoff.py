"""Restart backoff: how long to wait before restarting a replica that crashed.

Exponential with a cap, like Kubernetes' CrashLoopBackOff, and reset once a replica has stayed
up long enough to count as healthy — so a replica that crashes once a day restarts at once, and
one that crashes on start does not spin.
"""

from __future__ import annotations

from dataclasses import dataclass

#: First delay, growth factor and cap (seconds). The first restart is quick so one crash costs
#: little capacity; the cap keeps a broken model from being retried more than twice a minute.
INITIAL_DELAY_S = 0.5
FACTOR = 2.0
MAX_DELAY_S = 30.0
#: A replica ready for this long has recovered: its next crash restarts at the initial delay.
STABLE_AFTER_S = 30.0


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    initial_s: float = INITIAL_DELAY_S
    factor: float = FACTOR
    max_s: float = MAX_DELAY_S
    stable_after_s: float = STABLE_AFTER_S

    def delay(self, consecutive_failures: int) -> float:
        """Seconds to wait before restart number ``consecutive_failures`` (1 for the first)."""
        if consecutive_failures < 1:
            return 0.0
        return min(self.max_s, self.initial_s * self.factor ** (consecutive_failures - 1))

    def failures_after(self, previous: int, uptime_s: float) -> int:
        """The consecutive-failure count after a crash that followed ``uptime_s`` of running."""
        return 1 if uptime_s >= self.stable_after_s else previous + 1
