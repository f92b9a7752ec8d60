"""The thin stateful wrapper around :func:`~.decision.decide`: metric samples in two windows,
and the state one decision hands the next."""

from __future__ import annotations

from collections import deque

from inferd.control.autoscale.decision import Decision, ScalerState, ScalingPolicy, Signals, decide


class Autoscaler:
    """Feed it samples with :meth:`observe`; ask it with :meth:`decide`."""

    def __init__(self, policy: ScalingPolicy) -> None:
        self.policy = policy
        self.state: ScalerState | None = None
        self._samples: deque[tuple[float, float]] = deque()
        self.last: Decision | None = None

    def observe(self, now: float, value: float) -> None:
        """One sample of the deployment's metric (its total across replicas)."""
        self._samples.append((now, value))
        horizon = max(self.policy.stable_window_s, self.policy.panic_window_s)
        while self._samples and now - self._samples[0][0] > horizon:
            self._samples.popleft()

    def average(self, now: float, window_s: float) -> float:
        """The mean of the samples of the last ``window_s`` seconds (0 without samples)."""
        values = [v for t, v in self._samples if now - t <= window_s]
        return sum(values) / len(values) if values else 0.0

    def decide(
        self, now: float, current: int, ready: int, idle_s: float, *, start_backoff: bool = False
    ) -> Decision:
        signals = Signals(
            stable_value=self.average(now, self.policy.stable_window_s),
            panic_value=self.average(now, self.policy.panic_window_s),
            current=current,
            ready=ready,
            idle_s=idle_s,
            start_backoff=start_backoff,
        )
        # The first decision starts the scale-down delay: replicas running at start stay a while.
        state = self.state if self.state is not None else ScalerState(started_at=now)
        self.last, self.state = decide(self.policy, signals, state, now)
        return self.last
