"""Canary analysis: a pure function of (policy, observations) → promote, hold or roll back.

Each interval the controller measures the candidate against the stable version over that
interval only (:mod:`.observe`) and calls :func:`analyse`. The verdict carries every check with
its number and its threshold, so the rollout history says exactly why a version moved or did not.

Rules, in order:

1. fewer than ``min_requests`` candidate requests in the interval → **hold** (too little to
   judge; the controller keeps counting the same interval), the count of consecutive failures
   unchanged — unless:

   * the errors already seen put the error rate above ``max_error_rate`` even if every request
     still needed succeeds (a candidate that stopped answering gathers requests only as they
     time out, one by one): the outcome is known, so the interval is judged now, on the
     requests there are (rules 2 and 3; the error rate fails);
   * the interval has lasted ``progress_deadline_s``: a step that cannot gather
     ``min_requests`` in that time must not hold forever, so the analysis fails (rule 3);

2. every configured check passes → **promote** (the strategy turns that into "next step" or
   "switch"), consecutive failures reset to 0;
3. a check fails → one more consecutive failure; at ``failure_limit`` (at least 1) →
   **rollback**, before it → **hold**.

A check whose inputs are missing (no mirrored rows to compare, no stable traffic to compare
latency or client errors against, no drift measured) is reported as not measured and neither
passes nor fails.

Client errors (4xx) are not the candidate's errors: clients that send bad requests send them
to both versions. A candidate that refuses what the stable version answers (a changed input
signature) shows instead as a client-error rate above the stable's over the same interval:
more than ``max_error_rate`` above it fails the ``client_error_excess`` check. A blue-green
candidate's answers are paired with the stable's request by request: its excess is the share of
mirrored requests it refused that the stable version answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal, TypedDict

Action = Literal["promote", "hold", "rollback"]


class TrafficRecord(TypedDict):
    """:class:`TrafficStats` as the rollout history records it."""

    requests: int
    errors: int
    error_rate: float
    client_errors: int
    client_error_rate: float
    #: Mirrored copies refused as the client's fault where the stable version answered the
    #: same request (:attr:`TrafficStats.refused`); None for traffic a version served itself.
    refused: int | None
    p50_s: float | None
    p99_s: float | None
    ttft_p95_s: float | None
    itl_p95_s: float | None


class DivergenceRecord(TypedDict):
    compared: int
    label_share: float | None
    score_mad: float | None
    edit_distance: float | None
    cosine_distance: float | None


class ObservationsRecord(TypedDict):
    candidate: TrafficRecord
    stable: TrafficRecord
    divergence: DivergenceRecord
    drift_psi: float | None
    span_s: float


class CheckRecord(TypedDict):
    metric: str
    value: float | None
    limit: float
    passed: bool | None


class VerdictRecord(TypedDict):
    action: Action
    reasons: list[str]
    checks: list[CheckRecord]
    failures: int


@dataclass(frozen=True, slots=True)
class AnalysisPolicy:
    """Thresholds per metric; None switches a check off."""

    max_error_rate: float = 0.01
    #: Absolute limit on the candidate's p99 latency, in seconds.
    max_latency_p99_s: float | None = None
    #: Limit on candidate p99 / stable p99 (e.g. 1.5: at most 50% slower than stable).
    max_latency_ratio: float | None = None
    #: Limits on the candidate's streamed generations: time to first token and inter-token
    #: latency p95, in seconds.
    max_ttft_p95_s: float | None = None
    max_itl_p95_s: float | None = None
    #: Share of mirrored label (integer/string) elements, or of generated answers, allowed to
    #: differ; for embeddings, the mean cosine distance (1 - similarity) allowed.
    max_divergence: float | None = None
    #: Mean absolute difference allowed between mirrored float outputs (scores).
    max_score_difference: float | None = None
    max_drift_psi: float | None = None
    min_requests: int = 100
    failure_limit: int = 3
    #: How long an analysis may wait for ``min_requests`` before it counts as failed, in
    #: seconds (None: as long as it takes).
    progress_deadline_s: float | None = None


@dataclass(frozen=True, slots=True)
class TrafficStats:
    """The traffic one version served over one interval; latencies in seconds (None without
    requests)."""

    requests: int = 0
    errors: int = 0
    p50_s: float | None = None
    p99_s: float | None = None
    #: Streamed generations only (None: none streamed).
    ttft_p95_s: float | None = None
    itl_p95_s: float | None = None
    #: Requests refused as the client's fault (4xx); not among ``errors``.
    client_errors: int = 0
    #: Mirrored copies only: the client errors to requests the stable version answered,
    #: paired request by request (so no stable baseline is needed); None for the traffic a
    #: version served itself.
    refused: int | None = None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def client_error_rate(self) -> float:
        return self.client_errors / self.requests if self.requests else 0.0


@dataclass(frozen=True, slots=True)
class DivergenceStats:
    """Mirrored traffic compared over one interval: label share and score difference."""

    compared: int = 0
    #: Differing / compared elements of label outputs (None: none compared).
    label_share: float | None = None
    #: Mean absolute difference of float outputs (None: none compared).
    score_mad: float | None = None
    #: Mean normalised edit distance of generated texts (None: none compared).
    edit_distance: float | None = None
    #: Mean cosine distance (1 - similarity) of embeddings (None: none compared).
    cosine_distance: float | None = None

    @property
    def share(self) -> float | None:
        """What ``max_divergence`` limits: the differing share of labels or generated
        answers, else (embeddings) the mean cosine distance."""
        if self.label_share is not None:
            return self.label_share
        return self.cosine_distance


@dataclass(frozen=True, slots=True)
class Observations:
    """What the controller measured over one interval, and the failures before it."""

    candidate: TrafficStats
    stable: TrafficStats
    divergence: DivergenceStats = DivergenceStats()
    drift_psi: float | None = None
    #: Consecutive failed analyses before this one.
    failures: int = 0
    #: Seconds the observations span: several intervals while too few requests came to judge.
    span_s: float = 0.0

    def to_json(self) -> ObservationsRecord:
        """The numbers, as the rollout history records them."""
        div = self.divergence
        return {
            "candidate": _stats_json(self.candidate),
            "stable": _stats_json(self.stable),
            "divergence": {
                "compared": div.compared,
                "label_share": div.label_share,
                "score_mad": div.score_mad,
                "edit_distance": div.edit_distance,
                "cosine_distance": div.cosine_distance,
            },
            "drift_psi": self.drift_psi,
            "span_s": self.span_s,
        }


def _stats_json(s: TrafficStats) -> TrafficRecord:
    return {"requests": s.requests, "errors": s.errors, "error_rate": s.error_rate,
            "client_errors": s.client_errors, "client_error_rate": s.client_error_rate,
            "refused": s.refused, "p50_s": s.p50_s, "p99_s": s.p99_s, "ttft_p95_s": s.ttft_p95_s,
            "itl_p95_s": s.itl_p95_s}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Check:
    """One metric: its value, the limit, and whether it passed (None: not measured)."""

    metric: str
    value: float | None
    limit: float
    passed: bool | None
    #: What a failure says besides the value and the limit (the numbers behind the value).
    detail: str | None = None

    @property
    def reason(self) -> str:
        """Why it failed, in words."""
        reason = f"{self.metric} {_fmt(self.value)} above limit {_fmt(self.limit)}"
        return reason if self.detail is None else f"{reason}: {self.detail}"

    def to_json(self) -> CheckRecord:
        return {"metric": self.metric, "value": self.value, "limit": self.limit,
                "passed": self.passed}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Verdict:
    """The decision, why, the checks behind it and the consecutive failures after it."""

    action: Action
    reasons: tuple[str, ...]
    checks: tuple[Check, ...] = field(default_factory=tuple)
    failures: int = 0
    #: False while too few requests came to judge: the next analysis covers this interval too.
    judged: bool = True

    def to_json(self) -> VerdictRecord:
        return {
            "action": self.action,
            "reasons": list(self.reasons),
            "checks": [c.to_json() for c in self.checks],
            "failures": self.failures,
        }


def analyse(policy: AnalysisPolicy, obs: Observations) -> Verdict:
    """The verdict for one interval (see the module docstring for the rules)."""
    cand, needed = obs.candidate, policy.min_requests
    if cand.requests < needed and not _errors_decide(policy, cand):
        deadline = policy.progress_deadline_s
        if deadline is not None and obs.span_s >= deadline:
            late = (
                f"only {cand.requests} of the {needed} candidate requests needed came in "
                f"{_fmt(obs.span_s)} s (progress_deadline {_fmt(deadline)} s)"
            )
            return _failed(policy, obs, (), (late,))
        return Verdict(
            "hold",
            (f"{cand.requests} of {needed} candidate requests needed before judging",),
            failures=obs.failures,
            judged=False,
        )
    checks = tuple(_checks(policy, obs))
    failed = [c for c in checks if c.passed is False]
    if not failed:
        measured = sum(c.passed is True for c in checks)
        return Verdict("promote", (f"all {measured} measured checks passed",), checks, 0)
    return _failed(policy, obs, checks, tuple(c.reason for c in failed))


def _errors_decide(policy: AnalysisPolicy, cand: TrafficStats) -> bool:
    """The errors seen (fewer requests than ``min_requests``, so it is not 0) exceed
    ``max_error_rate`` even at ``min_requests``, however the rest go."""
    return cand.errors / policy.min_requests > policy.max_error_rate


def _failed(
    policy: AnalysisPolicy, obs: Observations, checks: tuple[Check, ...], reasons: tuple[str, ...]
) -> Verdict:
    """One more consecutive failed analysis, for ``reasons``: rollback at the limit."""
    failures = obs.failures + 1
    limit = max(policy.failure_limit, 1)
    if failures >= limit:
        tail = f"{failures} consecutive failed analyses reached failure_limit {limit}"
        return Verdict("rollback", (*reasons, tail), checks, failures)
    return Verdict("hold", (*reasons, f"failed analysis {failures} of {limit}"), checks, failures)


def _checks(policy: AnalysisPolicy, obs: Observations) -> list[Check]:
    cand, stable = obs.candidate, obs.stable
    # Relative checks need as much stable traffic in the same interval as the candidate needs
    # (there is next to none at a 100% step: one stray request is no baseline).
    baseline = stable.requests >= max(policy.min_requests, 1)
    # No request (min_requests 0): no error rate was measured, not one of 0.
    rate = cand.error_rate if cand.requests else None
    errors = _upper("error_rate", rate, policy.max_error_rate)
    if cand.requests < policy.min_requests:  # judged early: say why (rule 1)
        detail = (
            f"{cand.errors} errors in {cand.requests} requests exceed it even if the rest of "
            f"the {policy.min_requests} requests needed succeed"
        )
        errors = replace(errors, detail=detail)
    checks = [errors, _client_errors(cand, stable if baseline else None, policy.max_error_rate)]
    if policy.max_latency_p99_s is not None:
        checks.append(_upper("latency_p99_s", cand.p99_s, policy.max_latency_p99_s))
    if policy.max_latency_ratio is not None:
        ratio = (
            cand.p99_s / stable.p99_s
            if cand.p99_s is not None and stable.p99_s and baseline
            else None
        )
        checks.append(_upper("latency_p99_ratio", ratio, policy.max_latency_ratio))
    if policy.max_ttft_p95_s is not None:
        checks.append(_upper("ttft_p95_s", cand.ttft_p95_s, policy.max_ttft_p95_s))
    if policy.max_itl_p95_s is not None:
        checks.append(_upper("itl_p95_s", cand.itl_p95_s, policy.max_itl_p95_s))
    div = obs.divergence
    if policy.max_divergence is not None:
        share = div.share if div.compared else None
        checks.append(_upper("divergence", share, policy.max_divergence))
    if policy.max_score_difference is not None:
        mad = div.score_mad if div.compared else None
        checks.append(_upper("score_difference", mad, policy.max_score_difference))
    if policy.max_drift_psi is not None:
        checks.append(_upper("drift_psi", obs.drift_psi, policy.max_drift_psi))
    return checks


def _client_errors(cand: TrafficStats, stable: TrafficStats | None, limit: float) -> Check:
    """The candidate's client-error rate above the stable's (None: no stable baseline); for
    mirrored copies, the share the candidate refused where the stable answered."""
    if cand.refused is not None and cand.requests:
        excess = cand.refused / cand.requests
        detail = (
            f"{cand.refused} of {cand.requests} mirrored requests refused as client errors "
            "where the stable version answered them"
        )
        return Check("client_error_excess", excess, limit, excess <= limit, detail)
    if stable is None or not cand.requests:
        return _upper("client_error_excess", None, limit)
    excess = cand.client_error_rate - stable.client_error_rate
    detail = (
        f"client errors {cand.client_error_rate:.2%} against the stable's "
        f"{stable.client_error_rate:.2%}"
    )
    return Check("client_error_excess", excess, limit, excess <= limit, detail)


def _upper(metric: str, value: float | None, limit: float) -> Check:
    return Check(metric, value, limit, None if value is None else value <= limit)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"
