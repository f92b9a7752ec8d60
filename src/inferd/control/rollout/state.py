"""One rollout's state, and how it reads in ``inferd rollout status`` and on the dashboard."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

from inferd.control.rollout.analysis import AnalysisPolicy
from inferd.control.rollout.strategies import Pair, Strategy, stages
from inferd.control.rollout.transition import Transition
from inferd.spec.model import DeploymentSpec, RolloutSpec

Phase = Literal["running", "paused", "promoted", "rolled_back", "aborted", "failed"]
#: Phases a rollout never leaves.
FINISHED: frozenset[Phase] = frozenset({"promoted", "rolled_back", "aborted", "failed"})
#: Decisions kept in memory for status (the history file keeps them all).
RECENT = 20


def policy_of(spec: RolloutSpec) -> AnalysisPolicy:
    """The analysis thresholds a rollout spec declares."""
    a = spec.analysis
    return AnalysisPolicy(
        max_error_rate=a.max_error_rate,
        max_latency_p99_s=a.max_latency_p99,
        max_latency_ratio=a.max_latency_ratio,
        max_divergence=a.max_divergence,
        max_score_difference=a.max_score_difference,
        max_drift_psi=a.max_drift_psi,
        min_requests=a.min_requests,
        failure_limit=spec.failure_limit,
    )


@dataclass
class Rollout:
    """A rollout of ``pair.candidate`` against ``pair.stable`` in one deployment."""

    id: str
    deployment: str
    strategy: Strategy
    steps: tuple[int, ...]
    pair: Pair
    policy: AnalysisPolicy
    interval_s: float
    #: The deployment as the user's spec had it when the rollout began (re-applying it while
    #: the rollout runs changes nothing).
    base: DeploymentSpec
    #: Set when the rollout came from a version change (apply or alias move).
    transition: Transition | None = None
    phase: Phase = "running"
    stage: int = 0
    failures: int = 0
    started_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    candidate_weight: int = 0
    decisions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def stages(self) -> int:
        return stages(self.strategy, self.steps)

    @property
    def active(self) -> bool:
        return self.phase not in FINISHED

    def remember(self, record: dict[str, Any]) -> None:
        self.decisions = [*self.decisions[-(RECENT - 1) :], record]
        self.updated_at = time.time()

    def status(self) -> dict[str, Any]:
        """What ``inferd rollout status`` prints and the dashboard draws."""
        return {
            "id": self.id,
            "deployment": self.deployment,
            "strategy": self.strategy,
            "stable": self.pair.stable,
            "candidate": self.pair.candidate,
            "phase": self.phase,
            "stage": self.stage + 1,
            "stages": self.stages,
            "steps": list(self.steps),
            "candidate_weight": self.candidate_weight,
            "failures": self.failures,
            "failure_limit": self.policy.failure_limit,
            "interval_s": self.interval_s,
            "cause": self.transition.cause if self.transition else "inferd rollout start",
            "started_at": self.started_at,
            "updated_at": self.updated_at,
            "decisions": list(self.decisions),
        }
