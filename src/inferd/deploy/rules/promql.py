"""PromQL text as the rules write it: durations, numbers, matchers, bucket bounds, event counts.

Every expression of :mod:`inferd.deploy.rules` is built from these, so a number or a duration is
spelt one way everywhere (the golden files and promtool tests read them).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from inferd.errors import InvalidArgument

#: Labels every per-version expression keeps (``namespace`` is absent under ``inferd up``,
#: where grouping by it is harmless).
BY_VERSION = "namespace, deployment, version"
BY_DEPLOYMENT = "namespace, deployment"
#: The label naming the spec's version on a model server's series (its ``version`` is the
#: model's tag under ``inferd up``): ``inferd up``'s gateway and the ServiceMonitor add it.
SPEC_VERSION = "inferd_version"
#: Server outcomes that count against a version (client errors are the client's).
ERROR_OUTCOMES = "error|deadline|unavailable"

_UNITS = (("d", 86400000), ("h", 3600000), ("m", 60000), ("s", 1000), ("ms", 1))


def duration(seconds: float) -> str:
    """A PromQL duration in the largest unit that divides it: 3600 → ``1h``, 90 → ``90s``."""
    ms = round(seconds * 1000)
    if ms <= 0:
        return "0s"
    return next(f"{ms // size}{unit}" for unit, size in _UNITS if ms % size == 0)


def number(value: float) -> str:
    """A constant: whole numbers without a point, others to 12 significant digits (so
    ``14.4 * 0.001`` reads ``0.0144``, not ``0.014400000000000001``)."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.12g}"


def le(bound: float) -> str:
    """The matcher of one histogram bucket.

    The server writes bounds as Go floats (``1.0``); Prometheus 3 normalises whole bounds when
    it scrapes (``1``), so a whole bound matches both spellings.
    """
    if math.isinf(bound):
        return 'le="+Inf"'
    text = repr(float(bound))
    if not float(bound).is_integer():
        return f'le="{text}"'
    return f'le=~"{int(bound)}|{text}"'


def measurable(
    limit: float, buckets: tuple[float, ...], *, deployment: str, field: str, series: str
) -> None:
    """Refuse a quantile alert's ``limit`` that ``series`` cannot measure.

    ``histogram_quantile`` never reads a quantile above a histogram's largest finite bucket (it
    returns that bound when the quantile falls in ``+Inf``), so an alert at or beyond it could
    never fire, however slow the requests.

    Raises InvalidArgument naming ``field``, ``series`` and the bound.
    """
    top = buckets[-1]
    if limit >= top:
        raise InvalidArgument(
            f"deployment {deployment!r}: {field} {duration(limit)} is not below the largest "
            f"finite bucket, {number(top)}s, of {series}: Prometheus' histogram_quantile never "
            f"reads a quantile above it, so the alert on it could never fire; set {field} "
            f"below {number(top)}s"
        )


@dataclass(frozen=True, slots=True)
class Scope:
    """Which series a rule reads: one deployment's (and namespace's, on a cluster)."""

    deployment: str
    namespace: str | None = None

    def sel(self, *extra: str) -> str:
        """``{namespace="…",deployment="…",extra…}``."""
        matchers = [f'deployment="{self.deployment}"', *extra]
        if self.namespace is not None:
            matchers.insert(0, f'namespace="{self.namespace}"')
        return "{" + ",".join(matchers) + "}"

    def versioned(self, expr: str) -> str:
        """``expr`` (model-server series) with ``version`` set to the spec's version name.

        A server's ``version`` is its model's tag under ``inferd up`` (a shadow ``v2-shadow``
        of ``fraud:v2`` reports ``v2``, as its primary does); ``inferd_version``, which the
        gateway and on a cluster the ServiceMonitor add, names the spec's version. Series
        without it pass unchanged.
        """
        return f'label_replace({expr}, "version", "$1", "{SPEC_VERSION}", "(.+)")'

    def namespaced(self, *extra: str) -> str:
        """Matchers without ``deployment`` (for series whose ``deployment`` label means
        something else, e.g. kube-state-metrics' Deployment name)."""
        matchers = list(extra)
        if self.namespace is not None:
            matchers.insert(0, f'namespace="{self.namespace}"')
        return "{" + ",".join(matchers) + "}"


def ratio(numerator: str, denominator: str, by: str) -> str:
    """``sum by (by) (numerator) / sum by (by) (denominator)``."""
    return f"sum by ({by}) ({numerator})\n/\nsum by ({by}) ({denominator})"


def new_events(
    selector: str, by: str, window: str, per_series: Callable[[str], str] = lambda e: e
) -> str:
    """How many events a counter counted over ``window``, summed by ``by``.

    Taken per series, then summed, so that a counter reset (a restarted ``inferd up`` or pod
    container keeps its labels and starts from 0) is not read as a fall: a series that existed
    ``window`` ago counts its ``increase()``, rounded to whole events (extrapolation stretches
    a window's one event to about 1.07); a series newer than the window counts its value,
    since ``increase()`` needs two samples and would miss the event that created the series (a
    version's first failed load). ``per_series`` wraps the per-series vector before the sum
    (e.g. :meth:`Scope.versioned`, which cannot take a range vector).
    """
    old = f"{selector} offset {window}"
    counted = f"round(increase({selector}[{window}])) and {old}\n  or\n  {selector} unless {old}"
    return f"sum by ({by}) (\n  {per_series(f'({counted})')}\n)"
