"""Dashboards on a Prometheus that scrapes several namespaces: the same stack in ``staging`` and
``prod`` has a deployment ``fraud`` in each. The rules keep namespaces apart (docs/alerts.md);
the fleet, model and language-model dashboards have a **Namespace** variable, and every query
that picks deployments picks the namespace too, so prod's panels do not add staging's traffic.
Under ``inferd up`` the series carry no namespace: the variable lists none, and its All (``.*``,
as well as an empty value) matches series without the label."""

from __future__ import annotations

from pathlib import Path

from deploy.promql_names import substitute
from inferd.deploy.grafana import DASHBOARDS
from inferd.deploy.grafana.builder import Dashboard

from .conftest import promql_at_5m

NAMESPACED = ("fleet", "model", "llm")
PICKS_DEPLOYMENT = 'deployment=~"$deployment"'
PICKS_NAMESPACE = 'namespace=~"$namespace"'


def _exprs(dashboard: Dashboard) -> list[str]:
    out = [v.selector for v in dashboard.variables]
    out += [q.expr for p in dashboard.panels() for q in p.queries]
    return out + [a.expr for a in dashboard.annotations]


def test_each_dashboard_of_deployments_has_a_namespace_variable_first() -> None:
    for name in NAMESPACED:
        variables = DASHBOARDS[name].variables
        assert [v.name for v in variables][:2] == ["namespace", "deployment"], name
        assert variables[0].values_of == "namespace" and variables[0].multi
        assert PICKS_NAMESPACE in variables[1].selector, name


def test_every_query_that_picks_deployments_picks_the_namespace() -> None:
    for name in NAMESPACED:
        for expr in _exprs(DASHBOARDS[name]):
            assert expr.count(PICKS_DEPLOYMENT) <= expr.count(PICKS_NAMESPACE), (name, expr)


def _query(dashboard: str, title: str) -> str:
    (panel,) = [p for p in DASHBOARDS[dashboard].panels() if p.title == title]
    return panel.queries[0].expr


def test_a_namespace_picked_reads_only_its_series(promtool: str, tmp_path: Path) -> None:
    """Prometheus' own engine (promtool) over ``fraud`` in two namespaces and, as ``inferd up``
    exports them, without one."""
    series = [
        ('inferd_requests_total{namespace="prod",deployment="fraud",outcome="success"}', "0+60x6"),
        ('inferd_requests_total{namespace="staging",deployment="fraud",outcome="success"}',
         "0+600x6"),
        ('inferd_requests_total{deployment="fraud",outcome="success"}', "0+6000x6"),
        ('inferd_model_state{namespace="prod",deployment="fraud",state="READY"}', "1x6"),
        ('inferd_model_state{namespace="staging",deployment="canary",state="READY"}', "1x6"),
        ('inferd_model_state{namespace="staging",deployment="fraud",state="READY"}', "1x6"),
    ]  # fmt: skip
    rps = _query("fleet", "Requests/s")
    count = _query("fleet", "Deployments")
    deployments = DASHBOARDS["model"].variables[1].selector

    def pick(expr: str, namespace: str) -> str:
        variables = {"namespace": namespace, "deployment": ".*", "version": ".*"}
        return substitute(expr, variables, {"$__rate_interval": "3m"})

    promql_at_5m(
        promtool,
        tmp_path,
        series,
        {
            pick(rps, "prod"): 1,
            pick(rps, "staging"): 10,
            pick(rps, ".*"): 111,  # All: every namespace, and series without one
            pick(rps, ""): 100,  # no value picked: the series without a namespace
            f"count({pick(deployments, 'staging')})": 2,
            # prod's fraud, staging's fraud and canary: three deployments, not two names.
            pick(count, ".*"): 3,
            pick(count, "staging"): 2,
        },
    )
