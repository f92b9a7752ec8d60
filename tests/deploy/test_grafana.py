"""The Grafana dashboards: committed as generated, every query over documented series only and
parsed by Prometheus's own parser (promtool), needs marked truthfully, and the sidecar's
ConfigMaps valid Kubernetes objects. tests/e2e/test_prometheus_queries.py evaluates every query
against a real Prometheus scraping a real ``inferd up``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from inferd.deploy.grafana import DASHBOARDS, Dashboard, files, grafana_config_maps, promql
from inferd.deploy.grafana.builder import NEED_TEXT
from inferd.deploy.grafana.provisioning import SIDECAR_LABEL, dashboard_text
from inferd.deploy.k8s_options import K8sOptions
from inferd.spec.model import Spec

from .conftest import ROOT, validate
from .promql_names import (
    NEEDS,
    documented_series,
    metric_names,
    reads_need,
    substitute,
    undocumented,
)

COMMITTED = ROOT / "deploy" / "grafana"


def expressions(dashboard: Dashboard) -> list[tuple[str, str]]:
    """(where, PromQL) for every query of ``dashboard``: variables, panels, annotations."""
    out = [(f"variable {v.name}", v.selector) for v in dashboard.variables]
    out += [(f"panel {p.title!r}", q.expr) for p in dashboard.panels() for q in p.queries]
    out += [(f"annotation {a.name!r}", a.expr) for a in dashboard.annotations]
    return out


def all_expressions() -> list[tuple[str, str]]:
    return [
        (f"{d.uid} {where}", expr) for d in DASHBOARDS.values() for where, expr in expressions(d)
    ]


def test_the_committed_files_are_what_the_generator_writes() -> None:
    expected = files()
    committed = {p.name: p.read_text(encoding="utf-8") for p in COMMITTED.iterdir()}
    assert committed.keys() == expected.keys(), "run `make dashboards` and commit deploy/grafana"
    stale = [name for name, text in expected.items() if committed[name] != text]
    assert not stale, f"{stale} differ from the generator: run `make dashboards` and commit them"


def test_every_query_reads_documented_series_only() -> None:
    documented = documented_series()
    problems = []
    for where, expr in all_expressions():
        names = metric_names(expr)
        if not names:
            problems.append(f"{where}: reads no series: {expr}")
        problems += [f"{where}: {why}" for n in names if (why := undocumented(n, documented))]
    assert not problems, "\n".join(problems)


def test_the_series_catalogue_agrees_with_the_docs() -> None:
    documented = documented_series()
    catalogue = [s for s in vars(promql).values() if isinstance(s, promql.Series)]
    assert len(catalogue) > 30
    for series in catalogue:
        entry = documented.get(series.name)
        assert entry is not None, f"{series.name} is not documented"
        assert entry.kind in (series.kind, None), (series, entry)


def test_the_tokenizer_finds_metric_names_and_nothing_else() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, version) (rate(a_bucket{x=~"b|c", y!="d"}[5m])))'
        " / on (version) group_left (model) max without (replica) (b offset 1h) > bool 2e3"
        ' and count(c{__x="sum(d)"}[$__rate_interval:1m]) or vector(1) unless time() - e'
    )
    assert metric_names(expr) == ["a_bucket", "b", "c", "e"]


def test_every_query_parses_in_prometheus(promtool: str, tmp_path: Path) -> None:
    """``promtool check rules`` parses each expression (as a recording rule) with Prometheus's
    own PromQL parser, after Grafana's substitutions."""
    variables = {"namespace": ".*", "deployment": ".*", "version": ".*", "gpu": ".*"}
    rules = [
        {"record": f"grafana:check:{i}", "expr": substitute(expr, variables)}
        for i, (_, expr) in enumerate(all_expressions())
    ]
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "grafana", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def test_needs_are_marked_truthfully() -> None:
    """A query that reads GPU or cost series says it needs them, and one that says so reads
    them: the e2e test lets only such queries come back empty."""
    for where, expr, needs in _queries_with_needs():
        for need in NEEDS:
            assert reads_need(expr, need) == (needs == need), f"{where}: needs={needs}: {expr}"


def _queries_with_needs() -> list[tuple[str, str, str | None]]:
    out: list[tuple[str, str, str | None]] = []
    for d in DASHBOARDS.values():
        out += [(f"{d.uid} variable {v.name}", v.selector, v.needs) for v in d.variables]
        out += [(f"{d.uid} {p.title!r}", q.expr, q.needs) for p in d.panels() for q in p.queries]
        out += [(f"{d.uid} annotation {a.name!r}", a.expr, None) for a in d.annotations]
    return out


def test_a_marked_panel_says_what_it_needs() -> None:
    for dashboard in DASHBOARDS.values():
        panels = [p for p in dashboard.json()["panels"] if p["type"] != "row"]
        by_title = {p.title: p for p in dashboard.panels()}
        for panel in panels:
            needs = {q.needs for q in by_title[panel["title"]].queries}
            assert len(needs) == 1, f"{panel['title']} mixes needs {needs}"
            (need,) = needs
            if need is not None:
                assert panel["description"].endswith(NEED_TEXT[need])


def test_the_llm_dashboard_has_what_the_issue_asks_for() -> None:
    llm = DASHBOARDS["llm"]
    queries = [q for p in llm.panels() for q in p.queries]
    names = {n for q in queries for n in metric_names(q.expr)}
    assert names == {
        "gen_ai_server_time_to_first_token_seconds_bucket",
        "gen_ai_server_time_per_output_token_seconds_bucket",
        "gen_ai_server_request_duration_seconds_bucket",
        "inferd_llm_tokens_total",
        "inferd_llm_requests_total",
        "inferd_llm_requests_running",
        "inferd_llm_requests_waiting",
    }
    exprs = [q.expr for q in queries]
    ttft = [e for e in exprs if "time_to_first_token" in e]
    assert {e.split(",")[0] for e in ttft} >= {"histogram_quantile(0.5", "histogram_quantile(0.95"}
    assert any('type="output"' in e for e in exprs) and any('type="input"' in e for e in exprs)
    assert any("finish_reason" in e for e in exprs)
    # Every query, variables included, waits for an LLM: the e2e stack serves none.
    assert {q.needs for q in queries} == {"llm"}
    assert [(v.name, v.needs) for v in llm.variables] == [
        ("namespace", "llm"),
        ("deployment", "llm"),
        ("version", "llm"),
    ]
    assert all('deployment=~"$deployment"' in e and 'version=~"$version"' in e for e in exprs)


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboards_are_grafana_documents(name: str) -> None:
    document = json.loads(files()[f"{name}.json"])
    assert document["schemaVersion"] == 39
    assert document["uid"] == DASHBOARDS[name].uid
    variables = {v["name"]: v for v in document["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for v in list(variables.values())[1:]:
        assert v["type"] == "query" and v["definition"].startswith("label_values(")
        assert v["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    panels = document["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        for target in panel.get("targets", []):
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    # No two panels overlap on the grid.
    cells = [
        (x, y)
        for p in panels
        for x in range(p["gridPos"]["x"], p["gridPos"]["x"] + p["gridPos"]["w"])
        for y in range(p["gridPos"]["y"], p["gridPos"]["y"] + p["gridPos"]["h"])
    ]
    assert len(cells) == len(set(cells))


def test_the_model_dashboard_has_what_the_issue_asks_for() -> None:
    model = DASHBOARDS["model"]
    names = {n for _, expr in expressions(model) for n in metric_names(expr)}
    assert {
        "inferd_request_duration_seconds_bucket",
        "inferd_batch_size_bucket",
        "inferd_queue_depth",
        "inferd_gateway_shadow_divergence_sum",
        "inferd_input_drift_psi",
    } <= names
    assert [v.name for v in model.variables] == ["namespace", "deployment", "version"]
    assert "inferd_gateway_topology_generation" in model.annotations[0].expr


def test_config_maps_carry_each_dashboard_for_the_sidecar(quickstart: Spec) -> None:
    maps = grafana_config_maps(quickstart, K8sOptions(namespace="monitoring"))
    assert [m["metadata"]["name"] for m in maps] == [
        f"quickstart-grafana-{name}" for name in DASHBOARDS
    ]
    for config_map, (name, dashboard) in zip(maps, DASHBOARDS.items(), strict=True):
        validate(config_map)
        assert config_map["metadata"]["namespace"] == "monitoring"
        assert config_map["metadata"]["labels"][SIDECAR_LABEL] == "1"
        assert config_map["metadata"]["labels"]["app.kubernetes.io/part-of"] == "quickstart"
        assert config_map["data"] == {f"inferd-{name}.json": dashboard_text(dashboard)}


def test_the_file_provider_points_at_the_mounted_folder() -> None:
    provider = yaml.safe_load(files()["dashboards.yaml"])
    (entry,) = provider["providers"]
    assert provider["apiVersion"] == 1
    assert entry["type"] == "file"
    assert entry["options"]["path"] == "/var/lib/grafana/dashboards/inferd"
