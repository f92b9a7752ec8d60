"""The fleet dashboard reads the SLO recording rules (docs/alerts.md#slos): each deployment's
objective, its SLI over the SLO window, the error budget left and the burn rate, and says
"no SLO" where no deployment has one. Each query is evaluated by promtool against the rules
``inferd k8s rules --local`` writes for a stack with an SLO, on synthetic series."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inferd.deploy.grafana import DASHBOARDS
from inferd.deploy.grafana.builder import Panel
from inferd.deploy.rules.slo import BUDGET_REMAINING, ERROR_RATIO, OBJECTIVE

from .conftest import promtool_test_rules, write_rules
from .promql_names import substitute

SPEC = """\
apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: fraud
    versions:
      - {name: v1, model: "fraud:v1", replicas: 1}
    slo: {availability: 99, window: 1d}
  - name: plain
    versions:
      - {name: v1, model: "fraud:v1", replicas: 1}
"""
_ON = (
    'job="inferd",instance="127.0.0.1:8080",deployment="fraud",replica="fraud-v1-1",inferd_version="v1",'
    'model="fraud",version="v1"'
)


ALL = {"namespace": ".*", "deployment": ".*"}


def _slo_panels() -> list[Panel]:
    fleet = DASHBOARDS["fleet"]
    (row,) = [r for r in fleet.rows if r.title == "SLOs"]
    return list(row.panels)


def test_the_fleet_dashboard_reads_every_slo_series() -> None:
    exprs = " ".join(q.expr for p in _slo_panels() for q in p.queries)
    for name in (OBJECTIVE, BUDGET_REMAINING, ERROR_RATIO.format(window="1h")):
        assert name in exprs
    for panel in _slo_panels():
        assert panel.json(1, 0, 0)["fieldConfig"]["defaults"]["noValue"] == "no SLO"


def test_the_slo_queries_answer_from_the_recorded_rules(promtool: str, tmp_path: Path) -> None:
    spec = tmp_path / "inferd.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    write_rules(tmp_path, spec, "--local")
    # 1 request in 200 fails (0.5%): half the 1% budget over the day, burning at 0.5x.
    series = [
        {"series": f'inferd_requests_total{{{_ON},outcome="success"}}', "values": "0+199x120"},
        {"series": f'inferd_requests_total{{{_ON},outcome="error"}}', "values": "0+1x120"},
    ]
    expected = {
        "SLO objective": 0.99,
        "over the SLO window": 0.995,
        "budget remaining": 0.5,
        "burn rate 1h": 0.5,
    }
    queries = {q.legend or "": q.expr for p in _slo_panels() for q in p.queries}
    found: dict[str, str] = {}
    for what in expected:
        found[what] = next(expr for legend, expr in queries.items() if what in legend)
    tests: list[dict[str, Any]] = [
        {
            "interval": "1m",
            "input_series": series,
            "promql_expr_test": [
                {
                    # To 3 decimals: the burn rate reads 0.49999999999999956.
                    "expr": f"round(1000 * ({substitute(found[what], ALL)})) / 1000",
                    "eval_time": "100m",
                    "exp_samples": [
                        {"labels": '{deployment="fraud",slo="availability"}', "value": value}
                    ],
                }
                for what, value in expected.items()
            ],
        }
    ]
    promtool_test_rules(promtool, tmp_path, tests)
