"""Typed readings of what the gateway counted, for the controllers that act on traffic.

Rollout analysis and the autoscaler read the gateway's series through these values, never
through the series' names: :meth:`~.metrics.GatewayMetrics.reading` returns a
:class:`GatewayReading`, and :meth:`GatewayReading.since` what one interval added (the series
are cumulative; a series absent before counts from zero). What the controllers read from the
replicas' own ``/metrics`` (queue depth, input drift) is a :class:`~.aggregate.ReplicaReading`.

Latency percentiles come from the histogram buckets, interpolated linearly inside a bucket as
Prometheus' ``histogram_quantile`` does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

#: (deployment, version) — or (deployment, shadow version) for mirrored traffic.
Key = tuple[str, str]
#: Cumulative histogram buckets: (upper bound in seconds, requests at or below it), by bound.
Buckets = tuple[tuple[float, float], ...]
K = TypeVar("K")
V = TypeVar("V", int, float)


class _Combine(Protocol):
    """:func:`_minus` or :func:`_plus`: two mappings of counts made one."""

    def __call__(self, a: Mapping[K, V], b: Mapping[K, V], /) -> dict[K, V]: ...


class _Timed:
    """Quantiles of a reading's latency histograms: how long requests took and, for streamed
    generations, the time to the first token and the mean time between tokens after it."""

    __slots__ = ()
    buckets: Buckets
    ttft_buckets: Buckets
    itl_buckets: Buckets

    def quantile(self, q: float) -> float | None:
        """The ``q`` latency quantile in seconds; None without requests."""
        return quantile(q, list(self.buckets))

    def ttft_quantile(self, q: float) -> float | None:
        """The ``q`` time-to-first-token quantile in seconds; None without streams."""
        return quantile(q, list(self.ttft_buckets))

    def itl_quantile(self, q: float) -> float | None:
        """The ``q`` inter-token latency quantile in seconds; None without streams."""
        return quantile(q, list(self.itl_buckets))


@dataclass(frozen=True, slots=True)
class VersionTraffic(_Timed):
    """Requests through the gateway for one version (or a whole deployment): how many ended
    with each outcome, and how long they took."""

    outcomes: Mapping[str, int] = field(default_factory=dict)
    buckets: Buckets = ()
    #: Streamed generations: time to the first token, and the mean time between tokens after
    #: it, per request (as the gateway relayed them).
    ttft_buckets: Buckets = ()
    itl_buckets: Buckets = ()

    @property
    def requests(self) -> int:
        return sum(self.outcomes.values())

    def count(self, outcomes: Iterable[str]) -> int:
        """Requests that ended with any of ``outcomes``."""
        return sum(self.outcomes.get(o, 0) for o in set(outcomes))

    def since(self, before: VersionTraffic) -> VersionTraffic:
        """What was added after ``before``; all of it after a reset (a count went down: the
        version's series went when it left the topology, and it came back), as ``rate()``."""
        if _reset(self.outcomes, before.outcomes):
            return self
        return self._combined(before, _minus)

    def plus(self, other: VersionTraffic) -> VersionTraffic:
        return self._combined(other, _plus)

    def _combined(self, other: VersionTraffic, op: _Combine) -> VersionTraffic:
        """Every count of ``self`` and ``other`` combined by ``op``, field by field."""

        return VersionTraffic(
            op(self.outcomes, other.outcomes),
            _buckets(op, self.buckets, other.buckets),
            _buckets(op, self.ttft_buckets, other.ttft_buckets),
            _buckets(op, self.itl_buckets, other.itl_buckets),
        )


@dataclass(frozen=True, slots=True)
class ShadowTraffic(_Timed):
    """Mirrored copies to one shadow version (from every primary), how long the shadow took
    to answer them, and how its answers compared with the primary's."""

    #: Copies by outcome: compared, uncompared (no whole primary answer), failed, timeout,
    #: dropped (never sent).
    outcomes: Mapping[str, int] = field(default_factory=dict)
    #: Elements of label outputs (integers, booleans, strings) compared, and those differing.
    label_elements: float = 0.0
    label_differing: float = 0.0
    #: Comparisons of float outputs, and the sum of their mean absolute differences.
    score_comparisons: float = 0.0
    score_mad_sum: float = 0.0
    #: Generations compared, and the sum of their normalised edit distances (text answers;
    #: whether they matched exactly counts in the label elements, one per answer).
    edit_comparisons: float = 0.0
    edit_distance_sum: float = 0.0
    #: Embeddings compared, and the sum of their cosine distances (1 - similarity).
    cosine_comparisons: float = 0.0
    cosine_distance_sum: float = 0.0
    #: Copies sent, by how long the shadow took to answer, fail or time out.
    buckets: Buckets = ()
    #: Copies of streamed generations: the shadow's time to the first token, and its mean
    #: time between tokens after it, per copy.
    ttft_buckets: Buckets = ()
    itl_buckets: Buckets = ()

    def since(self, before: ShadowTraffic) -> ShadowTraffic:
        if _reset(self.outcomes, before.outcomes):  # as VersionTraffic.since
            return self
        return ShadowTraffic(
            _minus(self.outcomes, before.outcomes),
            self.label_elements - before.label_elements,
            self.label_differing - before.label_differing,
            self.score_comparisons - before.score_comparisons,
            self.score_mad_sum - before.score_mad_sum,
            self.edit_comparisons - before.edit_comparisons,
            self.edit_distance_sum - before.edit_distance_sum,
            self.cosine_comparisons - before.cosine_comparisons,
            self.cosine_distance_sum - before.cosine_distance_sum,
            _buckets(_minus, self.buckets, before.buckets),
            _buckets(_minus, self.ttft_buckets, before.ttft_buckets),
            _buckets(_minus, self.itl_buckets, before.itl_buckets),
        )


@dataclass(frozen=True, slots=True)
class GatewayReading:
    """Everything the gateway counted, per version and per shadow, at one moment."""

    versions: Mapping[Key, VersionTraffic] = field(default_factory=dict)
    shadows: Mapping[Key, ShadowTraffic] = field(default_factory=dict)

    def since(self, before: GatewayReading) -> GatewayReading:
        """What accumulated after ``before`` was read."""
        return GatewayReading(
            {
                k: v.since(before.versions.get(k, VersionTraffic()))
                for k, v in self.versions.items()
            },
            {k: s.since(before.shadows.get(k, ShadowTraffic())) for k, s in self.shadows.items()},
        )

    def version(self, deployment: str, version: str) -> VersionTraffic:
        """The primary traffic ``version`` of ``deployment`` served."""
        return self.versions.get((deployment, version), VersionTraffic())

    def deployment(self, deployment: str) -> VersionTraffic:
        """All the deployment's requests, whichever version (if any) took them."""
        total = VersionTraffic()
        for (name, _), traffic in self.versions.items():
            if name == deployment:
                total = total.plus(traffic)
        return total

    def shadow(self, deployment: str, shadow: str) -> ShadowTraffic:
        return self.shadows.get((deployment, shadow), ShadowTraffic())


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


def _reset(now: Mapping[str, int], before: Mapping[str, int]) -> bool:
    """Whether any count went down from ``before`` to ``now`` (its series started again)."""
    return any(now.get(k, 0) < n for k, n in before.items())


def _minus(now: Mapping[K, V], before: Mapping[K, V]) -> dict[K, V]:
    return {k: v - before.get(k, 0) for k, v in now.items()}


def _plus(a: Mapping[K, V], b: Mapping[K, V]) -> dict[K, V]:
    return {k: a.get(k, 0) + b.get(k, 0) for k in (*a, *(k for k in b if k not in a))}


def _buckets(op: _Combine, a: Buckets, b: Buckets) -> Buckets:
    """Two histograms' cumulative buckets combined bound by bound."""
    return tuple(sorted(op(dict(a), dict(b)).items()))
