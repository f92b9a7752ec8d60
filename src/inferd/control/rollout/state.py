"""One rollout's state, and how it reads in ``inferd rollout status`` and on the dashboard."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal, TypedDict, Unpack

from inferd.control.rollout.analysis import AnalysisPolicy, Observations, Verdict
from inferd.control.rollout.history import DecisionNote, DecisionRecord, Event
from inferd.control.rollout.strategies import Pair, Strategy, stages
from inferd.control.rollout.transition import Transition
from inferd.errors import InvalidArgument, NotFound
from inferd.spec.edits import main_version
from inferd.spec.model import DeploymentSpec, VersionSpec
from inferd.spec.policies import RolloutSpec

Phase = Literal["running", "paused", "promoted", "rolled_back", "aborted", "superseded", "failed"]
#: Phases a rollout never leaves.
FINISHED: frozenset[Phase] = frozenset(
    {"promoted", "rolled_back", "aborted", "superseded", "failed"}
)
#: The event recording how a rollout ended with the traffic back on the stable version, by
#: phase (``rollback`` for the others).
ROLLBACK_EVENTS: dict[Phase, Event] = {"aborted": "abort", "failed": "failed"}
#: Decisions kept in memory for status (the history file keeps them all).
RECENT = 20
#: Without a ``progress_deadline``, the intervals an analysis waits for ``min_requests`` before
#: it counts as failed: ten, as Argo Rollouts' ``progressDeadlineSeconds`` (600 s) is ten of
#: the default 1m interval.
PROGRESS_DEADLINE_INTERVALS = 10


class RolloutStatus(TypedDict):
    """What ``inferd rollout status`` prints and the dashboard draws."""

    id: str
    deployment: str
    strategy: Strategy
    stable: str
    candidate: str
    phase: Phase
    #: 1-based, of ``stages``.
    stage: int
    stages: int
    steps: list[int]
    candidate_weight: int
    failures: int
    failure_limit: int
    interval_s: float
    #: What started it: "inferd rollout start", "apply", "alias fraud:production moved".
    cause: str
    started_at: float
    updated_at: float
    #: The latest :data:`RECENT` decisions, oldest first.
    decisions: list[DecisionRecord]


def policy_of(spec: RolloutSpec) -> AnalysisPolicy:
    """The analysis thresholds a rollout spec declares."""
    a = spec.analysis
    return AnalysisPolicy(
        max_error_rate=a.max_error_rate,
        max_latency_p99_s=a.max_latency_p99,
        max_latency_ratio=a.max_latency_ratio,
        max_ttft_p95_s=a.max_ttft_p95,
        max_itl_p95_s=a.max_inter_token_latency_p95,
        max_divergence=a.max_divergence,
        max_score_difference=a.max_score_difference,
        max_drift_psi=a.max_drift_psi,
        min_requests=a.min_requests,
        failure_limit=max(spec.failure_limit, 1),  # 0 acts as 1: the first failure
        progress_deadline_s=(
            spec.progress_deadline
            if spec.progress_deadline is not None
            else PROGRESS_DEADLINE_INTERVALS * spec.interval
        ),
    )


def versions_of(d: DeploymentSpec, candidate: str | None) -> tuple[str, VersionSpec]:
    """The stable version's name and the candidate ``inferd rollout start`` rolls out against
    it: ``candidate``, else the one version besides the stable one and the shadow. A version
    the deployment lacks is NotFound; the stable version or the shadow, InvalidArgument (a
    rollout of the shadow took the mirror away, for good once it ended), each naming those
    that can be rolled out."""
    deployment, stable = d.name, main_version(d).name
    others = [v.name for v in d.versions if v.name not in (stable, d.traffic.shadow)]
    if candidate is None:
        if len(others) != 1:
            raise InvalidArgument(
                f"name the candidate version of {deployment!r} (one of {others})"
                if others
                else f"deployment {deployment!r} has no version besides {stable!r} to roll out"
            )
        candidate = others[0]
    version = d.version(candidate)
    names = f"candidates: {', '.join(others) or 'none'}"
    if version is None:
        raise NotFound(f"deployment {deployment!r} has no version {candidate!r} ({names})")
    if candidate == d.traffic.shadow:
        raise InvalidArgument(
            f"{candidate!r} is the shadow of {deployment!r} (it gets mirrored copies of "
            "requests, no traffic): a rollout moves traffic from the stable version to "
            f"another weighted version ({names}); to roll it out, make it no longer the "
            "shadow (traffic.shadow) and inferd apply"
        )
    if candidate == stable:
        raise InvalidArgument(
            f"{candidate!r} is the stable version of {deployment!r} (it has the most "
            f"traffic); name the candidate to roll out against it ({names})"
        )
    return stable, version


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
    #: The tags it may move, and the digest each named when it began (None: absent); see
    #: :mod:`.aliases`.
    tags: dict[str, str | None] = field(default_factory=dict)
    phase: Phase = "running"
    stage: int = 0
    failures: int = 0
    started_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    candidate_weight: int = 0
    decisions: list[DecisionRecord] = field(default_factory=list)
    #: A promotion an apply has since reconciled with the user's file (undone, or agreed
    #: with): later applies say nothing more of it (:mod:`.applying`).
    applied_over: bool = False

    @property
    def stages(self) -> int:
        return stages(self.strategy, self.steps)

    def started(self) -> str:
        """One line for ``inferd apply``: what this rollout does from now on."""
        how = {
            "canary": f"steps {', '.join(f'{w}%' for w in self.steps)}",
            "blue-green": "mirrored copies, then all traffic at once",
            "ab": "by header, promoted by a person",
        }[self.strategy]
        models = {v.name: v.model for v in self.base.versions}
        if self.transition is not None:
            models.update({v.name: v.model for v in self.transition.during.versions})
        candidate = self.pair.candidate
        model = f" ({models[candidate]})" if candidate in models else ""
        return (
            f"{self.deployment}: rollout {self.id} started, {self.strategy} of {candidate!r}"
            f"{model} over {self.pair.stable!r}, {how}; it routes the deployment's traffic "
            f"from now on (inferd rollout status {self.deployment})"
        )

    @property
    def active(self) -> bool:
        return self.phase not in FINISHED

    def record(
        self,
        event: Event,
        verdict: Verdict | None = None,
        obs: Observations | None = None,
        **note: Unpack[DecisionNote],
    ) -> DecisionRecord:
        """``event`` as the history records it: where the rollout stands now, and why."""
        record: DecisionRecord = {
            "time": time.time(),
            "deployment": self.deployment,
            "rollout": self.id,
            "event": event,
            "strategy": self.strategy,
            "stable": self.pair.stable,
            "candidate": self.pair.candidate,
            "stage": self.stage + 1,
            "candidate_weight": self.candidate_weight,
        }
        if "reason" in note:
            record["reason"] = note["reason"]
        if "tagged" in note:
            record["tagged"] = note["tagged"]
        if "reverted" in note:
            record["reverted"] = note["reverted"]
        if "reverted_to" in note:
            record["reverted_to"] = note["reverted_to"]
        if "cause" in note:
            record["cause"] = note["cause"]
        if "alias" in note and "alias_digest" in note and "stable_model" in note:
            record["alias"] = note["alias"]
            record["alias_digest"] = note["alias_digest"]
            record["stable_model"] = note["stable_model"]
        if verdict is not None:
            record["verdict"] = verdict.to_json()
        if obs is not None:
            record["observations"] = obs.to_json()
        return record

    def remember(self, record: DecisionRecord) -> None:
        self.decisions = [*self.decisions[-(RECENT - 1) :], record]
        self.updated_at = time.time()

    def status(self) -> RolloutStatus:
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
