"""The per-model dashboard shows what the gateway of ``inferd up`` does about failing replicas:
requests it retried on a second replica (``inferd_gateway_upstream_retries_total``) and replicas
it ejected as outliers (``inferd_gateway_outlier_ejections_total``, docs/gateway.md). Both
series appear with their first event, so the panel counts them since ``inferd up`` started
(a rate would miss the first one, whose series starts at 1), per spec version, and says it
has data only once such an event happened."""

from __future__ import annotations

from pathlib import Path

from deploy.promql_names import reads_need, substitute
from inferd.deploy.grafana import DASHBOARDS
from inferd.deploy.grafana.builder import Panel

from .conftest import promql_at_5m

EJECTIONS = "inferd_gateway_outlier_ejections_total"
RETRIES = "inferd_gateway_upstream_retries_total"
TITLE = "Through the gateway: retries and ejections since inferd up started"


def _panel() -> Panel:
    (panel,) = [p for p in DASHBOARDS["model"].panels() if p.title == TITLE]
    return panel


def test_the_model_dashboard_has_a_panel_of_retries_and_ejections() -> None:
    panel = _panel()
    exprs = [q.expr for q in panel.queries]
    assert any(EJECTIONS in e for e in exprs) and any(RETRIES in e for e in exprs)
    assert {q.needs for q in panel.queries} == {"event"}
    assert all(reads_need(e, "event") for e in exprs)
    assert "Has data once" in str(panel.json(1, 0, 0)["description"])


def test_the_first_ejection_and_retry_show_per_version(promtool: str, tmp_path: Path) -> None:
    """Prometheus' own engine (promtool) over the series as the gateway writes them: the first
    ejection of v2 and two retries of v1, and another deployment's ejection, which must not
    count."""
    gateway = 'instance="127.0.0.1:8080",job="inferd"'
    series = [
        (f'{EJECTIONS}{{{gateway},deployment="fraud",version="v2"}}', "_x3 1x3"),
        (
            f'{RETRIES}{{{gateway},deployment="fraud",version="v1",reason="connection"}}',
            "_x2 1 2x3",
        ),
        (f'{EJECTIONS}{{{gateway},deployment="other",version="v2"}}', "5x6"),
    ]
    retries, ejections = (
        substitute(q.expr, {"namespace": ".*", "deployment": "fraud", "version": ".*"}, {})
        for q in _panel().queries
    )
    v1, v2 = (f'label_replace(vector(1), "version", "{v}", "", "")' for v in ("v1", "v2"))
    promql_at_5m(
        promtool,
        tmp_path,
        series,
        {
            f"sum({ejections})": 1,
            f"sum({ejections} and on (version) {v2})": 1,
            f"sum({retries})": 2,
            f"sum({retries} and on (version) {v1})": 2,
        },
    )
