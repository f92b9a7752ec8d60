"""Analysis as a table: (policy, observations) → action, with the checks and reasons behind it."""

from __future__ import annotations

import pytest

from inferd.control.rollout.analysis import (
    AnalysisPolicy,
    DivergenceStats,
    Observations,
    TrafficStats,
    analyse,
)

GOOD = TrafficStats(requests=200, errors=0, p50_s=0.002, p99_s=0.004)
STABLE = TrafficStats(requests=1800, errors=0, p50_s=0.002, p99_s=0.004)


def obs(
    candidate: TrafficStats = GOOD,
    stable: TrafficStats = STABLE,
    divergence: DivergenceStats = DivergenceStats(),
    failures: int = 0,
    span_s: float = 1.0,
) -> Observations:
    return Observations(candidate, stable, divergence, None, failures, span_s)


CASES = [
    # (id, policy, observations, action, failures after, failing metric or None)
    ("all good", AnalysisPolicy(min_requests=100), obs(), "promote", 0, None),
    ("too few requests holds", AnalysisPolicy(min_requests=500), obs(), "hold", 0, None),
    ("too few keeps failures", AnalysisPolicy(min_requests=500), obs(failures=2), "hold", 2, None),
    ("min 0 judges at once", AnalysisPolicy(min_requests=0), obs(TrafficStats()), "promote", 0,
     None),
    # Too few requests, but the outcome is known: errors above the limit even at min_requests.
    ("a timed-out request of the 10 needed fails", AnalysisPolicy(min_requests=10),
     obs(TrafficStats(1, 1, 30.0, 30.0)), "hold", 1, "error_rate"),
    ("errors within the limit at min_requests wait", AnalysisPolicy(min_requests=10,
     max_error_rate=0.1), obs(TrafficStats(5, 1, 0.002, 0.004)), "hold", 0, None),
    # Too few requests for too long: the progress deadline.
    ("too few before the deadline holds", AnalysisPolicy(min_requests=10,
     progress_deadline_s=3), obs(TrafficStats(), span_s=2), "hold", 0, None),
    ("too few at the deadline fails", AnalysisPolicy(min_requests=10,
     progress_deadline_s=3), obs(TrafficStats(), span_s=3), "hold", 1, None),
    ("the last deadline rolls back", AnalysisPolicy(min_requests=10, failure_limit=2,
     progress_deadline_s=3), obs(TrafficStats(2), failures=1, span_s=3), "rollback",
     2, None),
    ("error rate at limit passes", AnalysisPolicy(max_error_rate=0.05, min_requests=100),
     obs(TrafficStats(200, 10, 0.002, 0.004)), "promote", 0, None),
    ("5% errors over 1% fails once", AnalysisPolicy(min_requests=100, failure_limit=3),
     obs(TrafficStats(200, 10, 0.002, 0.004)), "hold", 1, "error_rate"),
    ("third failure rolls back", AnalysisPolicy(min_requests=100, failure_limit=3),
     obs(TrafficStats(200, 10, 0.002, 0.004), failures=2), "rollback", 3, "error_rate"),
    ("failure_limit 1 rolls back at once", AnalysisPolicy(min_requests=100, failure_limit=1),
     obs(TrafficStats(200, 10, 0.002, 0.004)), "rollback", 1, "error_rate"),
    ("failure_limit 0 acts like 1", AnalysisPolicy(min_requests=100, failure_limit=0),
     obs(TrafficStats(200, 10, 0.002, 0.004)), "rollback", 1, "error_rate"),
    ("a pass resets failures", AnalysisPolicy(min_requests=100), obs(failures=2), "promote", 0,
     None),
    ("absolute p99 over limit", AnalysisPolicy(min_requests=100, max_latency_p99_s=0.003),
     obs(), "hold", 1, "latency_p99_s"),
    ("absolute p99 under limit", AnalysisPolicy(min_requests=100, max_latency_p99_s=0.01),
     obs(), "promote", 0, None),
    ("3x slower than stable", AnalysisPolicy(min_requests=100, max_latency_ratio=1.5),
     obs(TrafficStats(200, 0, 0.006, 0.012)), "hold", 1, "latency_p99_ratio"),
    ("1.2x slower is within 1.5", AnalysisPolicy(min_requests=100, max_latency_ratio=1.5),
     obs(TrafficStats(200, 0, 0.002, 0.0048)), "promote", 0, None),
    ("ratio unmeasured without stable traffic", AnalysisPolicy(min_requests=100,
     max_latency_ratio=1.5), obs(TrafficStats(200, 0, 0.006, 0.012), TrafficStats()), "promote",
     0, None),
    ("ratio unmeasured on a stray stable request", AnalysisPolicy(min_requests=100,
     max_latency_ratio=1.5), obs(TrafficStats(200, 0, 0.006, 0.012), TrafficStats(1, 0, 0.001,
     0.001)), "promote", 0, None),
    ("30% labels differ", AnalysisPolicy(min_requests=100, max_divergence=0.05),
     obs(divergence=DivergenceStats(200, 0.3, 0.01)), "hold", 1, "divergence"),
    ("2% labels differ", AnalysisPolicy(min_requests=100, max_divergence=0.05),
     obs(divergence=DivergenceStats(200, 0.02, 0.01)), "promote", 0, None),
    ("divergence unmeasured without mirror", AnalysisPolicy(min_requests=100,
     max_divergence=0.05), obs(), "promote", 0, None),
    ("scores drift apart", AnalysisPolicy(min_requests=100, max_score_difference=0.05),
     obs(divergence=DivergenceStats(200, 0.0, 0.2)), "hold", 1, "score_difference"),
    ("drift unmeasured is not a failure", AnalysisPolicy(min_requests=100, max_drift_psi=0.2),
     obs(), "promote", 0, None),
    # Language models: streamed generations' TTFT and inter-token latency p95.
    ("slow first token", AnalysisPolicy(min_requests=100, max_ttft_p95_s=0.5),
     obs(TrafficStats(200, 0, 0.4, 0.9, ttft_p95_s=0.8, itl_p95_s=0.02)), "hold", 1,
     "ttft_p95_s"),
    ("slow tokens", AnalysisPolicy(min_requests=100, max_itl_p95_s=0.05),
     obs(TrafficStats(200, 0, 0.4, 0.9, ttft_p95_s=0.1, itl_p95_s=0.08)), "hold", 1,
     "itl_p95_s"),
    ("fast generations pass both", AnalysisPolicy(min_requests=100, max_ttft_p95_s=0.5,
     max_itl_p95_s=0.05), obs(TrafficStats(200, 0, 0.4, 0.9, ttft_p95_s=0.1, itl_p95_s=0.02)),
     "promote", 0, None),
    ("no streams: TTFT unmeasured", AnalysisPolicy(min_requests=100, max_ttft_p95_s=0.5),
     obs(), "promote", 0, None),
    # Generated answers: the share differing is 1 - the exact-match rate.
    ("40% of answers differ", AnalysisPolicy(min_requests=100, max_divergence=0.1),
     obs(divergence=DivergenceStats(200, 0.4, None, edit_distance=0.2)), "hold", 1,
     "divergence"),
    # Embeddings: max_divergence limits the mean cosine distance.
    ("embeddings far apart", AnalysisPolicy(min_requests=100, max_divergence=0.05),
     obs(divergence=DivergenceStats(200, None, None, cosine_distance=0.3)), "hold", 1,
     "divergence"),
    ("embeddings close", AnalysisPolicy(min_requests=100, max_divergence=0.05),
     obs(divergence=DivergenceStats(200, None, None, cosine_distance=0.01)), "promote", 0,
     None),
    # Client errors (4xx): judged against the stable version's share, never as errors.
    ("candidate refuses what stable answers", AnalysisPolicy(min_requests=100),
     obs(TrafficStats(200, 0, 0.002, 0.004, client_errors=200)), "hold", 1,
     "client_error_excess"),
    ("bad clients hit both versions alike", AnalysisPolicy(min_requests=100),
     obs(TrafficStats(200, 0, 0.002, 0.004, client_errors=20),
         TrafficStats(1800, 0, 0.002, 0.004, client_errors=180)), "promote", 0, None),
    ("client errors 1% above stable's pass", AnalysisPolicy(min_requests=100),
     obs(TrafficStats(200, 0, 0.002, 0.004, client_errors=22),
         TrafficStats(1800, 0, 0.002, 0.004, client_errors=180)), "promote", 0, None),
    ("client errors unmeasured without stable traffic", AnalysisPolicy(min_requests=100),
     obs(TrafficStats(200, 0, 0.002, 0.004, client_errors=200), TrafficStats()), "promote", 0,
     None),
    # Blue-green: mirrored copies paired with the stable's answers to the same requests.
    ("mirrored bad requests refused by both", AnalysisPolicy(min_requests=100),
     obs(TrafficStats(200, 0, 0.002, 0.004, client_errors=60, refused=0),
         TrafficStats(1800, 0, 0.002, 0.004, client_errors=20)), "promote", 0, None),
    ("mirrored requests refused where stable answered", AnalysisPolicy(min_requests=100),
     obs(TrafficStats(200, 0, 0.002, 0.004, client_errors=10, refused=10),
         TrafficStats(1800, 0, 0.002, 0.004, client_errors=180)), "hold", 1,
     "client_error_excess"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("policy", "observations", "action", "failures", "failing"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_verdict(
    policy: AnalysisPolicy,
    observations: Observations,
    action: str,
    failures: int,
    failing: str | None,
) -> None:
    verdict = analyse(policy, observations)
    assert verdict.action == action
    assert verdict.failures == failures
    failed = [c.metric for c in verdict.checks if c.passed is False]
    assert failed == ([failing] if failing else [])
    if failing:
        assert any(failing in reason for reason in verdict.reasons)


def test_verdict_carries_the_numbers() -> None:
    policy = AnalysisPolicy(min_requests=10, max_latency_p99_s=0.25, failure_limit=2)
    verdict = analyse(policy, obs(TrafficStats(100, 5, 0.1, 0.3), failures=1))
    assert verdict.action == "rollback"
    doc = verdict.to_json()
    checks = {c["metric"]: c for c in doc["checks"]}  # type: ignore[attr-defined]
    assert checks["error_rate"] == {
        "metric": "error_rate", "value": 0.05, "limit": 0.01, "passed": False
    }  # fmt: skip
    assert checks["latency_p99_s"]["value"] == 0.3
    assert "2 consecutive failed analyses reached failure_limit 2" in verdict.reasons


def test_unmeasured_checks_are_reported_as_such() -> None:
    policy = AnalysisPolicy(min_requests=1, max_divergence=0.1, max_drift_psi=0.2)
    verdict = analyse(policy, obs())
    unmeasured = {c.metric for c in verdict.checks if c.passed is None}
    assert unmeasured == {"divergence", "drift_psi"}
    assert verdict.reasons == ("all 2 measured checks passed",)


def test_client_errors_are_named_against_the_stables() -> None:
    """A changed input signature: the candidate refuses (400) what the stable answers."""
    policy = AnalysisPolicy(min_requests=10, failure_limit=1)
    refusing = TrafficStats(40, 0, 0.001, 0.002, client_errors=40)
    verdict = analyse(policy, obs(refusing, TrafficStats(160, 0, 0.002, 0.004)))
    assert verdict.action == "rollback"
    assert verdict.reasons[0] == (
        "client_error_excess 1 above limit 0.01: client errors 100.00% against the stable's 0.00%"
    )
    assert obs(refusing).to_json()["candidate"]["client_error_rate"] == 1.0


def test_only_a_hold_for_too_few_requests_waits_for_more() -> None:
    """The controller keeps counting the interval only while the verdict is not judged."""
    policy = AnalysisPolicy(min_requests=10, progress_deadline_s=30)
    waiting = analyse(policy, obs(TrafficStats(3), span_s=20))
    assert not waiting.judged and waiting.reasons == (
        "3 of 10 candidate requests needed before judging",
    )
    late = analyse(policy, obs(TrafficStats(3), span_s=30))
    assert late.judged and late.reasons == (
        "only 3 of the 10 candidate requests needed came in 30 s (progress_deadline 30 s)",
        "failed analysis 1 of 3",
    )
    slow = AnalysisPolicy(min_requests=10, max_latency_p99_s=1.0)
    timed_out = analyse(slow, obs(TrafficStats(1, 1, 30.0, 30.0)))
    assert timed_out.judged and timed_out.reasons[:2] == (
        "error_rate 1 above limit 0.01: 1 errors in 1 requests exceed it even if the rest of "
        "the 10 requests needed succeed",
        "latency_p99_s 30 above limit 1",  # judged now: every check, on the requests there are
    )


def test_no_candidate_request_measures_no_error_rate() -> None:
    """``min_requests: 0`` judges an interval the candidate served nothing in: the error rate
    of no requests was reported as 0 and passed ('all 1 measured checks passed' with
    '0 req'), a check that measured nothing. It is not measured, as any check without
    inputs; so is a mirrored candidate's refused share."""
    policy = AnalysisPolicy(min_requests=0)
    for idle in (TrafficStats(), TrafficStats(refused=0)):
        verdict = analyse(policy, obs(idle, TrafficStats()))
        assert verdict.action == "promote"
        assert {c.metric: c.passed for c in verdict.checks} == {
            "error_rate": None, "client_error_excess": None
        }  # fmt: skip
        assert verdict.reasons == ("all 0 measured checks passed",)
