"""Observations for analysis, read from the gateway's own Prometheus registry.

The gateway counts every request by deployment, version and outcome, times it in a histogram,
and counts mirrored requests and differing output elements. Those series are cumulative, so
the controller takes a :class:`Snapshot` when an interval starts and another when it ends;
:func:`interval_stats` turns the difference into what :func:`~.analysis.analyse` reads — the
candidate and stable traffic of that interval only, never what came before.

Percentiles come from the histogram buckets, interpolated linearly inside a bucket as
Prometheus' ``histogram_quantile`` does.

Input drift is the model servers' own measurement (``inferd_input_drift_psi``, see
:mod:`inferd.observe.drift`), read from the candidate's replicas' ``/metrics`` by
:func:`drift_psi`. Unlike the gateway's series it is not per interval: PSI compares histograms
of every row a replica has seen since it loaded the version, since a short interval holds too
few rows to estimate a histogram.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from inferd.control.replicas.topology import Replica
from inferd.control.rollout.analysis import DivergenceStats, TrafficStats

#: Gateway outcomes that count as the version's errors (client errors are the client's).
ERROR_OUTCOMES = frozenset({"unavailable", "deadline", "error"})
_REQUESTS = "inferd_gateway_requests_total"
_LATENCY = "inferd_gateway_request_duration_seconds_bucket"
_SHADOW = "inferd_gateway_shadow_requests_total"
_COMPARED = "inferd_gateway_shadow_compared_elements_total"
_DIFFERING = "inferd_gateway_shadow_differing_elements_total"
_DIVERGENCE_SUM = "inferd_gateway_shadow_divergence_sum"
_DIVERGENCE_COUNT = "inferd_gateway_shadow_divergence_count"
_DRIFT_PSI = "inferd_input_drift_psi"

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every sample of the gateway's series at one moment: (name, labels) → value."""

    values: dict[tuple[str, Labels], float] = field(default_factory=dict)

    def minus(self, before: Snapshot) -> Snapshot:
        """What accumulated since ``before`` (series absent before count from zero)."""
        return Snapshot({k: v - before.values.get(k, 0.0) for k, v in self.values.items()})

    def select(self, name: str, **match: str) -> Iterable[tuple[dict[str, str], float]]:
        for (sample, labels), value in self.values.items():
            if sample != name:
                continue
            found = dict(labels)
            if all(found.get(k) == v for k, v in match.items()):
                yield found, value


def snapshot(registry: CollectorRegistry) -> Snapshot:
    """Read every sample of ``registry`` now."""
    values: dict[tuple[str, Labels], float] = {}
    for family in registry.collect():
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = float(sample.value)
    return Snapshot(values)


def version_stats(delta: Snapshot, deployment: str, version: str) -> TrafficStats:
    """Primary traffic a version served over the interval ``delta`` covers."""
    requests = errors = 0
    for labels, value in delta.select(_REQUESTS, deployment=deployment, version=version):
        requests += round(value)
        if labels.get("outcome") in ERROR_OUTCOMES:
            errors += round(value)
    buckets = [
        (_bound(labels["le"]), value)
        for labels, value in delta.select(_LATENCY, deployment=deployment, version=version)
    ]
    return TrafficStats(requests, errors, quantile(0.5, buckets), quantile(0.99, buckets))


def shadow_stats(delta: Snapshot, deployment: str, shadow: str) -> TrafficStats:
    """A shadow's answers to mirrored traffic: copies that got an answer, and failures
    (errors and timeouts); the gateway does not time mirrored copies, so no latency."""
    requests = errors = 0
    for labels, value in delta.select(_SHADOW, deployment=deployment, shadow=shadow):
        outcome = labels.get("outcome")
        if outcome == "dropped":
            continue  # never sent: says nothing about the shadow
        requests += round(value)
        if outcome in ("failed", "timeout"):
            errors += round(value)
    return TrafficStats(requests, errors)


def divergence_stats(delta: Snapshot, deployment: str, shadow: str) -> DivergenceStats:
    """How the shadow's answers differed from the primary's over the interval."""
    kinds: dict[str, str] = {}
    mad_sum = mad_count = 0.0
    for labels, value in delta.select(_DIVERGENCE_COUNT, deployment=deployment, shadow=shadow):
        kinds[labels["output"]] = labels["kind"]
        if labels["kind"] == "mad":
            mad_count += value
    for labels, value in delta.select(_DIVERGENCE_SUM, deployment=deployment, shadow=shadow):
        if labels["kind"] == "mad":
            mad_sum += value
    compared_elements = differing = 0.0
    for labels, value in delta.select(_COMPARED, deployment=deployment, shadow=shadow):
        if kinds.get(labels["output"]) == "share":
            compared_elements += value
    for _, value in delta.select(_DIFFERING, deployment=deployment, shadow=shadow):
        differing += value
    compared = sum(
        round(v)
        for _, v in delta.select(_SHADOW, deployment=deployment, shadow=shadow, outcome="compared")
    )
    return DivergenceStats(
        compared=compared,
        label_share=differing / compared_elements if compared_elements else None,
        score_mad=mad_sum / mad_count if mad_count else None,
    )


def drift_psi(
    expositions: Iterable[tuple[Replica, str]], deployment: str, version: str
) -> float | None:
    """The largest PSI of any input feature on any replica serving ``version`` of
    ``deployment``; None when none reports drift (no reference profile, or too few rows yet).

    ``expositions`` are replicas' ``/metrics`` texts; the largest value is taken because one
    drifted feature is enough to distrust a version, and PSI cannot be pooled across replicas.
    """
    worst: float | None = None
    for replica, text in expositions:
        if replica.deployment != deployment or replica.version != version:
            continue
        for family in text_string_to_metric_families(text):
            if family.name != _DRIFT_PSI:
                continue
            for sample in family.samples:
                if math.isfinite(sample.value):
                    worst = sample.value if worst is None else max(worst, sample.value)
    return worst


def quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus' ``histogram_quantile`` over cumulative ``(upper bound, count)`` buckets."""
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] <= 0:
        return None
    rank = q * ordered[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound  # beyond the last finite bucket: its bound is all we know
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return lower_bound


def _bound(text: str) -> float:
    return math.inf if text == "+Inf" else float(text)
