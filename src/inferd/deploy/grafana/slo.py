"""The SLO row of the fleet dashboard: for each deployment with an ``slo:``, its objective, its
SLI over the SLO window, the error budget left and how fast it burns, from the SLO recording
rules (``inferd k8s rules``, docs/alerts.md#slos). A Prometheus without those rules, or a stack
without an ``slo:``, has none of these series: each panel then says "no SLO".

The SLI over the window is derived from the budget left, ``1 - (1 - left) * (1 - objective)``,
since the window's error-ratio series is named after the window (``…:ratio_rate30d``); the
burn rate is the error ratio over 1h and 6h (the paging pairs' long windows) divided by the
budget, ``1 - objective``: at 1 the budget lasts exactly the window.
"""

from __future__ import annotations

from inferd.deploy.grafana.builder import Column, Panel, Query, Row
from inferd.deploy.grafana.promql import (
    DEPLOYMENT,
    SLO_BUDGET_REMAINING,
    SLO_ERRORS_1H,
    SLO_ERRORS_6H,
    SLO_OBJECTIVE,
    select,
)

NO_SLO = "no SLO"
#: The recorded series share their labels (deployment, slo, namespace on a cluster), so they
#: combine one to one.
_OBJECTIVE = select(SLO_OBJECTIVE, DEPLOYMENT)
_LEFT = select(SLO_BUDGET_REMAINING, DEPLOYMENT)
_OVER_WINDOW = f"1 - (1 - {_LEFT}) * (1 - {_OBJECTIVE})"


def _unnamed(expr: str) -> str:
    """``expr`` without its series' name, which would keep the table from merging its rows."""
    return f"max by (namespace, deployment, slo) ({expr})"


def _burn(errors: str) -> str:
    return f"{select(errors, DEPLOYMENT)} / (1 - {_OBJECTIVE})"


SLO_ROW = Row(
    "SLOs",
    (
        Panel(
            "SLOs now",
            "Each deployment with an `slo:`, per SLI (availability, latency): its objective, "
            "the share of good requests over the SLO window, the error budget left (1 untouched, "
            "0 spent, below 0 overspent) and the burn rate over the last hour (1: the budget "
            "lasts exactly the window). Needs the SLO rules of `inferd k8s rules` in Prometheus.",
            (
                Query(_unnamed(_OBJECTIVE), "{{deployment}} {{slo}} SLO objective", instant=True),
                Query(_OVER_WINDOW, "{{deployment}} {{slo}} over the SLO window", instant=True),
                Query(_unnamed(_LEFT), "{{deployment}} {{slo}} budget remaining", instant=True),
                Query(
                    _burn(SLO_ERRORS_1H.name), "{{deployment}} {{slo}} burn rate 1h", instant=True
                ),
            ),
            kind="table",
            width=24,
            height=6,
            columns=(
                Column("objective", "percentunit"),
                Column("over the SLO window", "percentunit"),
                Column("budget left", "percentunit"),
                Column("burn rate 1h"),
            ),
            hidden=("namespace",),
            no_value=NO_SLO,
        ),
        Panel(
            "Error budget remaining",
            "The share of each SLO's error budget left over its window: 1 untouched, 0 spent.",
            (Query(_LEFT, "{{deployment}} {{slo}} budget remaining"),),
            unit="percentunit",
            thresholds=((0.0, "red"),),
            no_value=NO_SLO,
        ),
        Panel(
            "Burn rate",
            "How many times faster than evenly each SLO's budget burns, over the last 1h and 6h "
            "(the paging alerts' long windows; at 1 the budget lasts exactly the window).",
            (
                Query(_burn(SLO_ERRORS_1H.name), "{{deployment}} {{slo}} burn rate 1h"),
                Query(_burn(SLO_ERRORS_6H.name), "{{deployment}} {{slo}} burn rate 6h"),
            ),
            thresholds=((1.0, "red"),),
            no_value=NO_SLO,
        ),
    ),
)
