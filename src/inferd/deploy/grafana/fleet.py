"""The fleet overview: every deployment at a glance — traffic, failures, latency, SLOs, replicas,
cost.

Traffic and latency come from the model servers' own series, which exist wherever inferd serves
(under ``inferd up`` through the gateway's one ``/metrics``, on Kubernetes from each pod), so a
shadow version's mirrored copies count as its traffic, as on the built-in dashboard. The
autoscaler and cost rows read series the gateway of ``inferd up`` exports: capacity held and
used always, money only with the spec's prices.
"""

from __future__ import annotations

from inferd.deploy.grafana.builder import Column, Dashboard, Panel, Query, Row, Variable
from inferd.deploy.grafana.promql import (
    COST_HELD,
    COST_IDLE,
    COST_INFO,
    COST_PER_1K,
    COST_SAVINGS,
    DEPLOYMENT,
    DESIRED_REPLICAS,
    FAILED_OUTCOMES,
    HELD_CPU,
    HELD_MEMORY,
    INFLIGHT,
    MODEL_MEMORY,
    MODEL_STATE,
    NAMESPACE,
    QUEUE_DEPTH,
    RANGE,
    READY_REPLICAS,
    REQUEST_DURATION,
    REQUESTS,
    USED_CPU,
    USED_MEMORY,
    failed_ratio,
    quantile,
    rate,
    select,
    sum_rate,
)
from inferd.deploy.grafana.slo import SLO_ROW

READY = 'state="READY"'
PER_DEPLOYMENT = ("deployment",)
GIB = 1024**3


def _ready_replicas(labels: tuple[str, ...]) -> str:
    """Replicas (series of one server) whose version is READY, counted per ``labels``."""
    by = f"by ({', '.join(labels)}) " if labels else ""
    return f"count {by}({select(MODEL_STATE, DEPLOYMENT, READY)} == 1)"


def _in_currency(expr: str) -> str:
    """``expr`` with the ``currency`` label of its own gateway's ``inferd_cost_info`` (whose
    value is 1): one Prometheus may scrape several ``inferd up`` gateways, each with its own
    (matched on the target's ``job`` and ``instance``, which ``expr`` must keep)."""
    return f"{expr}\n  * on (job, instance) group_left (currency) {COST_INFO}"


def _money(expr: str, labels: tuple[str, ...]) -> str:
    """Amounts of ``expr`` (per target) summed per ``labels`` in each currency."""
    return f"sum by ({', '.join((*labels, 'currency'))}) (\n  {_in_currency(expr)}\n)"


def _per_hour(series: str, labels: tuple[str, ...]) -> str:
    """A cost counter's rate as an amount per hour, in the spec's currency."""
    return f"{_money(rate(series, DEPLOYMENT), labels)} * 3600"


_SUMMARY = Row(
    "Fleet",
    (
        Panel(
            "Deployments",
            "Deployments with at least one replica exporting series.",
            (
                Query(
                    f"count(count by (namespace, deployment) ({select(MODEL_STATE, DEPLOYMENT)}))",
                    instant=True,
                ),
            ),
            kind="stat",
            width=4,
            height=4,
        ),
        Panel(
            "Requests/s",
            "Requests answered per second, all deployments (mirrored copies included).",
            (Query(sum_rate(REQUESTS, (), DEPLOYMENT)),),
            kind="stat",
            unit="reqps",
            width=5,
            height=4,
        ),
        Panel(
            "Failed requests",
            "Share of requests that failed on the server's side: error, deadline or unavailable "
            "(client errors are not counted).",
            (Query(failed_ratio(REQUESTS, (), DEPLOYMENT)),),
            kind="stat",
            unit="percentunit",
            width=5,
            height=4,
            thresholds=((0.01, "orange"), (0.05, "red")),
        ),
        Panel(
            "p99 latency",
            "99th percentile of request latency in the model servers, all deployments.",
            (Query(quantile(0.99, REQUEST_DURATION, (), DEPLOYMENT)),),
            kind="stat",
            unit="s",
            width=5,
            height=4,
        ),
        Panel(
            "Ready replicas",
            "Model-server replicas whose version is READY.",
            (Query(_ready_replicas(())),),
            kind="stat",
            width=5,
            height=4,
        ),
        Panel(
            "Deployments now",
            "One line per deployment: requests/s, failed share, p50 and p99 latency, ready "
            "replicas.",
            (
                Query(sum_rate(REQUESTS, PER_DEPLOYMENT, DEPLOYMENT), instant=True),
                Query(failed_ratio(REQUESTS, PER_DEPLOYMENT, DEPLOYMENT), instant=True),
                Query(quantile(0.5, REQUEST_DURATION, PER_DEPLOYMENT, DEPLOYMENT), instant=True),
                Query(quantile(0.99, REQUEST_DURATION, PER_DEPLOYMENT, DEPLOYMENT), instant=True),
                Query(_ready_replicas(PER_DEPLOYMENT), instant=True),
            ),
            kind="table",
            width=24,
            height=7,
            columns=(
                Column("requests/s", "reqps"),
                Column("failed", "percentunit"),
                Column("p50", "s"),
                Column("p99", "s"),
                Column("ready replicas"),
            ),
        ),
    ),
)

_TRAFFIC = Row(
    "Traffic and latency",
    (
        Panel(
            "Requests/s by deployment",
            "Requests answered per second by the model servers of each deployment.",
            (Query(sum_rate(REQUESTS, PER_DEPLOYMENT, DEPLOYMENT), "{{deployment}}"),),
            unit="reqps",
        ),
        Panel(
            "Failed requests/s by deployment and outcome",
            "Requests that ended in error, deadline or unavailable (503: queue full, not ready).",
            (
                Query(
                    sum_rate(REQUESTS, ("deployment", "outcome"), DEPLOYMENT, FAILED_OUTCOMES),
                    "{{deployment}} {{outcome}}",
                ),
            ),
            unit="reqps",
        ),
        Panel(
            "Latency p50 and p99 by deployment",
            "Time from a request reaching a model server to its answer.",
            (
                Query(
                    quantile(0.5, REQUEST_DURATION, PER_DEPLOYMENT, DEPLOYMENT),
                    "{{deployment}} p50",
                ),
                Query(
                    quantile(0.99, REQUEST_DURATION, PER_DEPLOYMENT, DEPLOYMENT),
                    "{{deployment}} p99",
                ),
            ),
            unit="s",
        ),
        Panel(
            "Failed share by deployment",
            "Failed requests as a share of all requests of the deployment.",
            (Query(failed_ratio(REQUESTS, PER_DEPLOYMENT, DEPLOYMENT), "{{deployment}}"),),
            unit="percentunit",
            thresholds=((0.01, "red"),),
        ),
    ),
)

_CAPACITY = Row(
    "Capacity",
    (
        Panel(
            "Ready replicas by version",
            "Model-server replicas whose version is READY, per deployment and spec version.",
            (
                Query(
                    _ready_replicas(("deployment", "inferd_version")),
                    "{{deployment}} {{inferd_version}}",
                ),
            ),
        ),
        Panel(
            "Autoscaler: desired and ready replicas",
            "What the autoscaler of `inferd up` wants for each scaled version, and what is "
            "ready (deployments with an `autoscaling:` section).",
            (
                Query(select(DESIRED_REPLICAS, DEPLOYMENT), "{{deployment}} {{version}} desired"),
                Query(select(READY_REPLICAS, DEPLOYMENT), "{{deployment}} {{version}} ready"),
            ),
        ),
        Panel(
            "In flight and queued by deployment",
            "Requests accepted and not yet answered, and those of them waiting for a batch.",
            (
                Query(
                    f"sum by (deployment) ({select(INFLIGHT, DEPLOYMENT)})",
                    "{{deployment}} in flight",
                ),
                Query(
                    f"sum by (deployment) ({select(QUEUE_DEPTH, DEPLOYMENT)})",
                    "{{deployment}} queued",
                ),
            ),
        ),
        Panel(
            "Model memory by deployment",
            "Host memory the loaded versions are charged (the memory budget's estimate).",
            (Query(f"sum by (deployment) ({select(MODEL_MEMORY, DEPLOYMENT)})", "{{deployment}}"),),
            unit="bytes",
        ),
    ),
)

_COST = Row(
    "Cost",
    (
        Panel(
            "CPU cores held and used by deployment",
            "Cores the replicas of `inferd up` hold (their CPU requests, one core without one) "
            "and the cores their processes use, up to the request.",
            (
                Query(sum_rate(HELD_CPU, PER_DEPLOYMENT, DEPLOYMENT), "{{deployment}} held"),
                Query(sum_rate(USED_CPU, PER_DEPLOYMENT, DEPLOYMENT), "{{deployment}} used"),
            ),
        ),
        Panel(
            "Memory held and used by deployment",
            "Memory the replicas hold (their requests, peak RSS without one) and use.",
            (
                Query(
                    f"{sum_rate(HELD_MEMORY, PER_DEPLOYMENT, DEPLOYMENT)} * {GIB}",
                    "{{deployment}} held",
                ),
                Query(
                    f"{sum_rate(USED_MEMORY, PER_DEPLOYMENT, DEPLOYMENT)} * {GIB}",
                    "{{deployment}} used",
                ),
            ),
            unit="bytes",
        ),
        Panel(
            "Cost per hour by deployment",
            "What the capacity each deployment holds costs per hour at the spec's prices.",
            (
                Query(
                    _per_hour(COST_HELD.name, PER_DEPLOYMENT),
                    "{{deployment}} ({{currency}}/h)",
                    needs="cost",
                ),
            ),
        ),
        Panel(
            "Idle cost per hour by deployment",
            "The part of the held cost spent while replicas served nothing.",
            (
                Query(
                    _per_hour(COST_IDLE.name, PER_DEPLOYMENT),
                    "{{deployment}} ({{currency}}/h)",
                    needs="cost",
                ),
            ),
        ),
        Panel(
            "Idle share of the money held",
            "The part of what capacity cost that paid for capacity not used.",
            (
                Query(
                    f"{sum_rate(COST_IDLE, PER_DEPLOYMENT, DEPLOYMENT)}\n  / "
                    f"{sum_rate(COST_HELD, PER_DEPLOYMENT, DEPLOYMENT)}",
                    "{{deployment}}",
                    needs="cost",
                ),
            ),
            unit="percentunit",
        ),
        Panel(
            "Cost per 1,000 predictions",
            "Held cost divided by the predictions served, per deployment and version.",
            (
                Query(
                    _in_currency(select(COST_PER_1K, DEPLOYMENT)),
                    "{{deployment}} {{version}} ({{currency}})",
                    needs="cost",
                ),
            ),
        ),
        Panel(
            "Saved by scaling to zero",
            "What replicas would have cost over the time range had they not scaled to zero.",
            (
                Query(
                    _money(
                        f"increase({select(COST_SAVINGS, DEPLOYMENT)}[{RANGE}])", PER_DEPLOYMENT
                    ),
                    "{{deployment}} ({{currency}})",
                    needs="cost",
                    instant=True,
                ),
            ),
            kind="stat",
        ),
    ),
)

FLEET = Dashboard(
    uid="inferd-fleet",
    title="inferd / Fleet",
    description="Every inferd deployment: traffic, failures, latency, replicas and cost.",
    variables=(
        Variable("namespace", "Namespace", str(MODEL_STATE), "namespace"),
        Variable("deployment", "Deployment", select(MODEL_STATE, NAMESPACE), "deployment"),
    ),
    rows=(_SUMMARY, SLO_ROW, _TRAFFIC, _CAPACITY, _COST),
    links=("inferd",),
)
