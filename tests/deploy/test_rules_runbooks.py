"""Runbooks: docs/alerts.md has one for every alert the generator writes, and the overlay's
``runbook_url`` links each alert to its own (docs/alerts.md#runbooks)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from inferd.deploy.k8s_options import RenderFlags, load_options
from inferd.deploy.rules import all_rule_expressions
from inferd.spec.loading import load_spec

from .conftest import GPU_OVERLAY, GPU_SPEC, HERE, QUICKSTART, ROOT, cli
from .test_monitoring_llm_alerts import SPEC as LLM_LIMITS_SPEC

ALERTING = HERE / "data" / "alerting.yaml"
ALERTING_OVERLAY = HERE / "data" / "alerting.k8s.yaml"
LLM = HERE / "data" / "llm.yaml"
LLM_OVERLAY = HERE / "data" / "llm.k8s.yaml"
#: Spec, overlay and flags between them writing every alert the generator has.
SPECS: list[tuple[Path, Path | None, RenderFlags]] = [
    (QUICKSTART, None, {}),
    (ALERTING, ALERTING_OVERLAY, {}),
    (ALERTING, ALERTING_OVERLAY, {"progressive": "argo"}),
    (GPU_SPEC, GPU_OVERLAY, {}),
    (LLM, LLM_OVERLAY, {}),
]


def _alert_names(tmp_path: Path) -> set[str]:
    # A language model on inferd's own engine with every generation limit.
    llm_limits = tmp_path / "inferd.yaml"
    llm_limits.write_text(LLM_LIMITS_SPEC, encoding="utf-8")
    names = set()
    for spec, overlay, flags in [*SPECS, (llm_limits, None, RenderFlags())]:
        options = load_options(overlay, flags)
        names |= {
            e.name for e in all_rule_expressions(load_spec(spec), options) if e.kind == "alert"
        }
    return names


def _runbook_headings() -> list[str]:
    text = (ROOT / "docs" / "alerts.md").read_text(encoding="utf-8")
    section = text.split("\n## Runbooks\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^### (\S+)$", section, flags=re.MULTILINE)


def test_every_alert_has_a_runbook_and_every_runbook_an_alert(tmp_path: Path) -> None:
    headings = _runbook_headings()
    assert len(headings) == len(set(headings))
    assert set(headings) == _alert_names(tmp_path)


def _alerts(text: str) -> list[dict[str, Any]]:
    groups = yaml.safe_load(text)["groups"]
    return [r for g in groups for r in g["rules"] if "alert" in r]


def _overlay(tmp_path: Path, runbook_url: str) -> Path:
    overlay = tmp_path / "inferd.k8s.yaml"
    overlay.write_text(f"runbook_url: '{runbook_url}'\n", encoding="utf-8")
    return overlay


@pytest.mark.parametrize("local", [False, True])
def test_runbook_url_links_every_alert_to_its_runbook(tmp_path: Path, local: bool) -> None:
    overlay = _overlay(tmp_path, "https://wiki.example.com/runbooks/{alert}.html#{anchor}")
    result = cli("k8s", "rules", QUICKSTART, "--overlay", overlay, *(["--local"] if local else []))
    assert result.exit_code == 0, result.output
    alerts = _alerts(result.stdout)
    assert alerts
    for rule in alerts:
        name = str(rule["alert"])
        assert rule["annotations"]["runbook_url"] == (
            f"https://wiki.example.com/runbooks/{name}.html#{name.lower()}"
        )
    records = [r for g in yaml.safe_load(result.stdout)["groups"] for r in g["rules"]]
    assert all("runbook_url" not in r.get("annotations", {}) for r in records if "record" in r)


def test_without_runbook_url_no_alert_has_one() -> None:
    result = cli("k8s", "rules", QUICKSTART)
    assert result.exit_code == 0, result.output
    assert all("runbook_url" not in r["annotations"] for r in _alerts(result.stdout))


def test_the_prometheus_rule_of_a_render_carries_them(tmp_path: Path) -> None:
    overlay = _overlay(tmp_path, "https://wiki.example.com/inferd#{anchor}")
    result = cli(
        "k8s", "render", QUICKSTART, "--registry", "registry.example.com", "--overlay", overlay
    )
    assert result.exit_code == 0, result.output
    rule = next(d for d in yaml.safe_load_all(result.stdout) if d and d["kind"] == "PrometheusRule")
    alerts = [r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]
    assert alerts
    assert all(r["annotations"]["runbook_url"].endswith(f"#{r['alert'].lower()}") for r in alerts)


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("https://wiki.example.com/inferd", "names no alert: put {alert} or {anchor} in it"),
        ("https://wiki.example.com/{alert}/{team}", "has a placeholder other than {alert}"),
        ("https://wiki.example.com/{alert}{", "has a placeholder other than {alert}"),
        ("ftp://wiki.example.com/{alert}", "is not an http:// or https:// URL"),
        ("{alert}", "is not an http:// or https:// URL"),
    ],
)
def test_a_bad_runbook_url_is_refused_at_its_line(
    tmp_path: Path, pattern: str, problem: str
) -> None:
    overlay = _overlay(tmp_path, pattern)
    result = cli("k8s", "rules", QUICKSTART, "--overlay", overlay)
    assert result.exit_code != 0
    assert f"{overlay}:1:" in result.output
    assert "runbook_url" in result.output
    assert problem in result.output
    # What the user wrote, with a runbook example: not the pattern filled in for an alert,
    # nor the Prometheus URL the other URL fields take.
    assert repr(pattern) in result.output
    assert "InferdNoReadyReplicas" not in result.output
    assert "prometheus-operated" not in result.output
