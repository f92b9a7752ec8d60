"""A shadow serving its primary's model tag shows as a line of its own on every "by version"
panel: under ``inferd up`` both report ``version="v1"`` (the tag), and the panels group the
model servers' series by ``inferd_version``, the spec's version the gateway (and on a cluster the
ServiceMonitor) adds. Prometheus' own engine (promtool) over the series as the gateway writes
them."""

from __future__ import annotations

import re
from pathlib import Path

from deploy.promql_names import substitute
from inferd.deploy.grafana import DASHBOARDS
from inferd.deploy.grafana.per_model import VERSION

from .conftest import promql_at_5m

GATEWAY = 'instance="127.0.0.1:8080",job="inferd",deployment="fraud"'
#: The primary v1 and its shadow v1-batched, both serving fraud:v1.
REPLICAS = (("v1-0", "v1"), ("v1-batched-0", "v1-batched"))
VARIABLES = {"namespace": ".*", "deployment": "fraud", "version": ".*"}
_BY = re.compile(r"\bby\s*\(([^)]*)\)")


def _served(name: str, labels: str, values: str) -> list[tuple[str, str]]:
    """``name`` as each replica of ``REPLICAS`` reports it through the gateway."""
    return [
        (f'{name}{{{GATEWAY},replica="{r}",inferd_version="{v}",version="v1",{labels}}}', values)
        for r, v in REPLICAS
    ]


def _expr(dashboard: str, title: str) -> str:
    (panel,) = [p for p in DASHBOARDS[dashboard].panels() if p.title == title]
    return substitute(panel.queries[0].expr, VARIABLES, {"$__rate_interval": "2m"})


def test_a_shadow_of_the_primarys_tag_is_a_line_of_its_own(promtool: str, tmp_path: Path) -> None:
    series = [
        *_served("inferd_requests_total", 'model="fraud",outcome="success"', "0+60x5"),
        *_served("inferd_model_state", 'model="fraud",state="READY"', "1x5"),
        *_served("inferd_llm_tokens_total", 'model="fraud",type="output"', "0+600x5"),
    ]
    lines = {
        ("model", "Requests/s by version and outcome"): 2,
        ("model", "Replicas by state"): 2,
        ("llm", "Output tokens/s by version"): 2,
        ("fleet", "Ready replicas by version"): 2,
    }
    promql_at_5m(
        promtool,
        tmp_path,
        series,
        {f"count({_expr(d, title)})": n for (d, title), n in lines.items()},
    )


def test_no_panel_groups_the_servers_series_by_the_models_tag() -> None:
    """Every query over the chosen versions' server series groups by the spec's version."""
    for dashboard in DASHBOARDS.values():
        for panel in dashboard.panels():
            for query in panel.queries:
                if VERSION not in query.expr:
                    continue
                for by in _BY.findall(query.expr):
                    assert "version" not in re.split(r"[\s,]+", by), (panel.title, query.expr)
                assert "{{version}}" not in query.legend, panel.title
