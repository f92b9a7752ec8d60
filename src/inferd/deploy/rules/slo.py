"""SLOs as multi-window, multi-burn-rate alerts and error-budget recording rules.

A deployment's ``slo`` gives an availability objective (share of requests that do not fail
through the server's fault) and optionally a p99 latency (99% of requests faster than it). Each
is an SLI with an error budget, ``1 - objective``, spent over ``slo.window``. A language
model's SLIs read its generations (``inferd_llm_requests_total``,
``gen_ai_server_request_duration_seconds``): its OpenAI requests never reach the model servers'
request series.

Alerts follow the Google SRE workbook ("Alerting on SLOs", multiwindow, multi-burn-rate): an
alert fires when the budget burns fast enough over a long window *and* is still burning over a
short one (a twelfth of it), so it starts soon and stops soon after the burn does. Rendered:

======  ==============  =================  ==================  ==============================
alert   long / short    budget spent       burn rate (30d)     severity
======  ==============  =================  ==================  ==============================
fast    1h / 5m         2% in the hour     14.4                page
fast    6h / 30m        5% in six hours    6                   page
slow    3d / 6h         10% in three days  1                   ticket
======  ==============  =================  ==================  ==============================

The burn rate is derived from the share of budget spent, so it scales with the SLO window
(``budget_share * window / long window``: 13.44 for 28 days), but never below 1: below it the
budget outlasts the window, and the alert would fire on a service that meets its objective
(windows shorter than 30 days: 0.933 for 28 days' 3-day pair, 0.233 for 7 days'). A pair
whose long window is not shorter than the SLO window, or whose error-ratio threshold would need
more than every request to fail (objectives below about 93% on the first pair), is left out: it
could never fire.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from inferd.deploy.k8s_options import K8sOptions
from inferd.deploy.rules.llm_alerts import inferd_serves
from inferd.deploy.rules.model import Need, Platform, Rule, alert, record
from inferd.deploy.rules.promql import (
    BY_DEPLOYMENT,
    ERROR_OUTCOMES,
    SPEC_VERSION,
    Scope,
    duration,
    le,
    number,
)
from inferd.errors import InvalidArgument
from inferd.observe.llm_metrics import DURATION_BUCKETS
from inferd.observe.metrics import LATENCY_BUCKETS
from inferd.spec.model import DeploymentSpec
from inferd.spec.policies import SloSpec

Sli = Literal["availability", "latency"]
#: The share of requests the latency objective allows above ``slo.latency_p99``.
LATENCY_OBJECTIVE = 0.99

ERROR_RATIO = "deployment:inferd_slo_errors:ratio_rate{window}"
OBJECTIVE = "deployment:inferd_slo_objective:ratio"
BUDGET_REMAINING = "deployment:inferd_slo_error_budget_remaining:ratio"


@dataclass(frozen=True, slots=True)
class SliSeries:
    """The series a deployment's SLIs read: the model servers' requests, or a language
    model's generations (its OpenAI requests never reach ``inferd_requests_total``)."""

    requests: str
    #: Matchers of the requests that failed through the server's fault, and of those that
    #: count at all (not the client's doing).
    bad: str
    valid: str
    duration: str
    buckets: tuple[float, ...]
    needs: frozenset[Need]


REQUEST_SLI = SliSeries(
    "inferd_requests_total",
    f'outcome=~"{ERROR_OUTCOMES}"',
    'outcome!="client_error"',
    "inferd_request_duration_seconds",
    LATENCY_BUCKETS,
    frozenset(),
)
#: A generation fails when it ends in ``error`` or the server refused it (``shed``: a 503, the
#: queue full or the replica unloading); one its client cancelled, or refused for its request
#: (``rejected``: over the context, a 400), is left out like a client error.
GENERATION_SLI = SliSeries(
    "inferd_llm_requests_total",
    'finish_reason=~"error|shed"',
    'finish_reason=~"stop|length|error|shed"',
    "gen_ai_server_request_duration_seconds",
    DURATION_BUCKETS,
    frozenset({"llm"}),
)


@dataclass(frozen=True, slots=True)
class BurnWindow:
    """One long/short window pair and the share of the error budget spent over ``long_s``
    that alerts."""

    long_s: float
    short_s: float
    budget_share: float
    severity: Literal["page", "ticket"]


#: The SRE workbook's pairs.
WINDOWS = (
    BurnWindow(3600.0, 300.0, 0.02, "page"),
    BurnWindow(6 * 3600.0, 1800.0, 0.05, "page"),
    BurnWindow(3 * 86400.0, 6 * 3600.0, 0.10, "ticket"),
)


def burn_rate(budget_share: float, slo_window_s: float, long_window_s: float) -> float:
    """How many times faster than evenly the budget burns when ``budget_share`` of it goes in
    ``long_window_s`` (2% of 30 days in 1 h → 14.4)."""
    return budget_share * slo_window_s / long_window_s


def error_ratio_threshold(objective: float, rate: float) -> float:
    """The error ratio at which the budget of ``objective`` burns ``rate`` times too fast."""
    return rate * (1 - objective)


@dataclass(frozen=True, slots=True)
class Burn:
    """A rendered window pair: its burn rate and error-ratio threshold for one objective."""

    window: BurnWindow
    rate: float
    threshold: float


def burns(objective: float, slo_window_s: float) -> list[Burn]:
    """The window pairs that apply to ``objective`` over ``slo_window_s`` (those that can
    fire), with their thresholds: each at its burn rate, or 1 where that is lower."""
    out = []
    for w in WINDOWS:
        if w.long_s >= slo_window_s:
            continue
        # Below 1 the budget would outlast the window: the pair would fire on a service that
        # meets its objective (a 7-day SLO's 3-day pair: 0.233x), so it alerts at 1x.
        rate = max(burn_rate(w.budget_share, slo_window_s, w.long_s), 1.0)
        threshold = error_ratio_threshold(objective, rate)
        if threshold < 1:
            out.append(Burn(w, rate, threshold))
    return out


def objectives(slo: SloSpec) -> dict[Sli, float]:
    """Each SLI of ``slo`` and its objective as a ratio."""
    out: dict[Sli, float] = {"availability": slo.availability / 100}
    if slo.latency_p99 is not None:
        out["latency"] = LATENCY_OBJECTIVE
    return out


def interpolation(
    threshold_s: float, bounds: tuple[float, ...] = LATENCY_BUCKETS
) -> list[tuple[float, float]]:
    """``(bucket bound, weight)`` pairs whose weighted bucket counts estimate the requests
    faster than ``threshold_s``, interpolating linearly between the bounds around it as
    ``histogram_quantile`` does (one pair when it is a bound; the largest bound beyond it)."""
    if threshold_s in bounds:
        return [(threshold_s, 1.0)]
    above = [b for b in bounds if b > threshold_s]
    if not above:
        return [(bounds[-1], 1.0)]
    hi = above[0]
    below = [b for b in bounds if b < threshold_s]
    lo = below[-1] if below else 0.0
    share = (threshold_s - lo) / (hi - lo)
    if not below:  # nothing is faster than 0: only the first bucket's share counts
        return [(hi, share)]
    return [(lo, 1 - share), (hi, share)]


def deployment_slo(
    deployment: DeploymentSpec, options: K8sOptions, platform: Platform
) -> list[Rule]:
    """Recording rules and burn-rate alerts of one deployment's SLO (none without one).

    Raises InvalidArgument for an SLO of an external engine's deployment (it exports none of
    the series the SLIs read)."""
    slo = deployment.slo
    if slo is None:
        return []
    if deployment.llm is not None and not inferd_serves(deployment):
        raise InvalidArgument(
            f"deployment {deployment.name!r}: its slo is measured on inferd's request series, "
            f"which the {deployment.llm.engine} engine does not export, so its burn-rate alerts "
            "could never fire; remove slo (or serve it with llm.engine inferd)"
        )
    scope = Scope(deployment.name, options.namespace if platform == "kubernetes" else None)
    served = _served(deployment)
    series = REQUEST_SLI if deployment.llm is None else GENERATION_SLI
    rules: list[Rule] = []
    for sli, objective in objectives(slo).items():
        labels = {"deployment": deployment.name, "slo": sli}
        applied = burns(objective, slo.window)
        windows = sorted({s for b in applied for s in (b.window.long_s, b.window.short_s)})
        for seconds in [*windows, slo.window]:
            expr = _error_ratio(sli, series, scope, served, window=duration(seconds), slo=slo)
            name = ERROR_RATIO.format(window=duration(seconds))
            rules.append(record(name, expr, labels=labels, needs=series.needs))
        rules.append(
            record(OBJECTIVE, f"vector({number(objective)})", labels=_constant_labels(scope, sli))
        )
        budget = number(1 - objective)
        over_window = ERROR_RATIO.format(window=duration(slo.window)) + scope.sel(f'slo="{sli}"')
        remaining = f"1 -\n{over_window} / {budget}"
        rules.append(record(BUDGET_REMAINING, remaining, labels=labels, needs=series.needs))
        burn = _burn_alerts(deployment.name, sli, objective, applied=applied, scope=scope, slo=slo)
        rules += [replace(r, needs=series.needs) for r in burn]
    return rules


def _served(deployment: DeploymentSpec) -> list[str]:
    """Matchers for the versions whose requests count: known versions, not a dedicated
    shadow (its answers reach no client)."""
    out = ['version!=""']
    shadow = deployment.traffic.shadow
    if shadow is not None and deployment.weights().get(shadow, 0) == 0:
        # The spec's version: a server's own ``version`` is its model's tag under inferd up,
        # which may be the shadow's name while the primary serves it.
        out.append(f'{SPEC_VERSION}!="{shadow}"')
    return out


def _error_ratio(
    sli: Sli, series: SliSeries, scope: Scope, served: list[str], *, window: str, slo: SloSpec
) -> str:
    if sli == "availability":
        bad = scope.sel(*served, series.bad)
        valid = scope.sel(*served, series.valid)
        return (
            f"sum by ({BY_DEPLOYMENT}) (rate({series.requests}{bad}[{window}]))\n/\n"
            f"sum by ({BY_DEPLOYMENT}) (rate({series.requests}{valid}[{window}]))"
        )
    if slo.latency_p99 is None:  # objectives() offers latency only with a threshold
        raise ValueError("a latency SLI needs slo.latency_p99")
    name = series.duration
    fast = " + ".join(
        ("" if weight == 1 else f"{number(weight)} * ")
        + f"sum by ({BY_DEPLOYMENT}) (rate({name}_bucket{scope.sel(*served, le(bound))}[{window}]))"
        for bound, weight in interpolation(slo.latency_p99, series.buckets)
    )
    total = f"sum by ({BY_DEPLOYMENT}) (rate({name}_count{scope.sel(*served)}[{window}]))"
    return f"1 - (\n  {fast}\n)\n/\n{total}"


def _burn_alerts(
    deployment: str, sli: Sli, objective: float, *, applied: list[Burn], scope: Scope, slo: SloSpec
) -> list[Rule]:
    what = (
        f"{number(objective * 100)}% availability"
        if sli == "availability"
        else f"99% of requests under {number((slo.latency_p99 or 0) * 1000)}ms"
    )
    out = []
    kinds: tuple[tuple[Literal["page", "ticket"], str], ...] = (
        ("page", "InferdSloFastBurn"),
        ("ticket", "InferdSloSlowBurn"),
    )
    for severity, name in kinds:
        mine = [b for b in applied if b.window.severity == severity]
        if not mine:
            continue
        pairs = [
            "\n  and\n  ".join(
                ERROR_RATIO.format(window=duration(s))
                + scope.sel(f'slo="{sli}"')
                + f" > {number(b.threshold)}"
                for s in (b.window.long_s, b.window.short_s)
            )
            for b in mine
        ]
        first = mine[0]
        signal = (
            ERROR_RATIO.format(window=duration(first.window.long_s))
            + scope.sel(f'slo="{sli}"')
            + f" / {number(1 - objective)}"
        )
        windows = ", ".join(
            f"{duration(b.window.long_s)}/{duration(b.window.short_s)} at "
            f"{number(round(b.rate, 4))}x"
            for b in mine
        )
        rule = alert(
            name,
            signal,
            "> 0",
            severity=severity,
            labels={"deployment": deployment, "slo": sli},
            summary=f"{deployment}: the {sli} SLO ({what}) burns its error budget too fast",
            description=f"{deployment} spends its {duration(slo.window)} {sli} error budget "
            f"faster than the SLO allows (windows {windows}); "
            f"{BUDGET_REMAINING} shows what is left.",
        )
        # Fires on any pair; the signal is the burn rate over the first pair's long window.
        out.append(replace(rule, expr="\nor\n".join(f"(\n  {p}\n)" for p in pairs)))
    return out


def _constant_labels(scope: Scope, sli: Sli) -> dict[str, str]:
    """Labels of a constant series, as the recorded ratios carry them."""
    labels = {"deployment": scope.deployment, "slo": sli}
    if scope.namespace is not None:
        labels = {"namespace": scope.namespace, **labels}
    return labels
