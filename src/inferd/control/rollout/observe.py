"""Observations for analysis, from the gateway's readings of one interval.

The gateway counts every request by deployment, version and outcome and times it, and does
the same for mirrored copies, with their differing output elements. Those counts are
cumulative, so the controller reads them
(:meth:`~inferd.control.gateway.metrics.GatewayMetrics.reading`) when an interval starts and
again when it ends; the functions here turn the difference into what
:func:`~.analysis.analyse` reads — the candidate and stable traffic of that interval only,
never what came before.

Input drift is the model servers' own measurement (:mod:`inferd.observe.drift`), read from the
candidate's replicas (:class:`~inferd.control.gateway.aggregate.ReplicaReading`) by
:func:`drift_psi`. Unlike the gateway's counts it is not per interval: PSI compares histograms
of every row a replica has seen since it loaded the version, since a short interval holds too
few rows to estimate a histogram.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from inferd.control.gateway.aggregate import ReplicaReading
from inferd.control.gateway.readings import GatewayReading
from inferd.control.rollout.analysis import DivergenceStats, Observations, TrafficStats
from inferd.control.rollout.state import Rollout

#: What the gateway has counted so far (:meth:`~.GatewayMetrics.reading`).
ReadGateway = Callable[[], GatewayReading]
#: What a deployment's ready replicas report (the gateway's :meth:`~.Gateway.replica_readings`).
ReadReplicas = Callable[[str], Awaitable[list[ReplicaReading]]]
#: Gateway outcomes that count as the version's errors.
ERROR_OUTCOMES = frozenset({"unavailable", "deadline", "error"})
#: Requests refused as the client's fault: judged against the stable's share, never as errors
#: (:mod:`.analysis`).
CLIENT_ERROR_OUTCOMES = frozenset({"client_error"})
#: Mirrored copies that count as the shadow's errors; a dropped copy was never sent, and one
#: refused as the client's fault (``client_error``, ``refused``) is judged as client errors.
SHADOW_ERRORS = frozenset({"failed", "timeout"})


def version_stats(delta: GatewayReading, deployment: str, version: str) -> TrafficStats:
    """Primary traffic a version served over the interval ``delta`` covers."""
    traffic = delta.version(deployment, version)
    return TrafficStats(
        traffic.requests,
        traffic.count(ERROR_OUTCOMES),
        traffic.quantile(0.5),
        traffic.quantile(0.99),
        traffic.ttft_quantile(0.95),
        traffic.itl_quantile(0.95),
        traffic.count(CLIENT_ERROR_OUTCOMES),
    )


def shadow_stats(delta: GatewayReading, deployment: str, shadow: str) -> TrafficStats:
    """A shadow's answers to mirrored traffic: copies sent, failures (errors and timeouts),
    client errors (those refused where the primary answered the same request apart), and how
    long the shadow took to answer them (and, for streamed generations, to its first token and
    between tokens)."""
    traffic = delta.shadow(deployment, shadow)
    outcomes = traffic.outcomes
    sent = sum(n for outcome, n in outcomes.items() if outcome != "dropped")
    refused = outcomes.get("refused", 0)
    return TrafficStats(
        sent,
        sum(outcomes.get(o, 0) for o in SHADOW_ERRORS),
        traffic.quantile(0.5),
        traffic.quantile(0.99),
        traffic.ttft_quantile(0.95),
        traffic.itl_quantile(0.95),
        client_errors=refused + outcomes.get("client_error", 0),
        refused=refused,
    )


def divergence_stats(delta: GatewayReading, deployment: str, shadow: str) -> DivergenceStats:
    """How the shadow's answers differed from the primary's over the interval."""
    s = delta.shadow(deployment, shadow)
    return DivergenceStats(
        compared=s.outcomes.get("compared", 0),
        label_share=s.label_differing / s.label_elements if s.label_elements else None,
        score_mad=s.score_mad_sum / s.score_comparisons if s.score_comparisons else None,
        edit_distance=s.edit_distance_sum / s.edit_comparisons if s.edit_comparisons else None,
        cosine_distance=(
            s.cosine_distance_sum / s.cosine_comparisons if s.cosine_comparisons else None
        ),
    )


def drift_psi(readings: Iterable[ReplicaReading], deployment: str, version: str) -> float | None:
    """The largest PSI of any input feature on any replica serving ``version`` of
    ``deployment``; None when none reports drift (no reference profile, or too few rows yet).

    The largest value is taken because one drifted feature is enough to distrust a version,
    and PSI cannot be pooled across replicas.
    """
    values = [
        r.drift_psi
        for r in readings
        if r.replica.deployment == deployment
        and r.replica.version == version
        and r.drift_psi is not None
    ]
    return max(values, default=None)


def observations(
    r: Rollout, delta: GatewayReading, drift: float | None, span_s: float
) -> Observations:
    """What :func:`~.analysis.analyse` reads of rollout ``r`` over the ``span_s`` seconds that
    ``delta`` covers: a blue-green candidate by its mirrored copies, any other by its traffic."""
    d, cand, stable = r.deployment, r.pair.candidate, r.pair.stable
    mirrored = r.strategy == "blue-green"
    return Observations(
        candidate=shadow_stats(delta, d, cand) if mirrored else version_stats(delta, d, cand),
        stable=version_stats(delta, d, stable),
        divergence=divergence_stats(delta, d, cand),
        drift_psi=drift,
        failures=r.failures,
        span_s=span_s,
    )
