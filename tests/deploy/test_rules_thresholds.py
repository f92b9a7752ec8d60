"""Thresholds a spec sets, as the generated alerts apply them: each alert, run through
``promtool test rules`` on synthetic series, fires where the spec's limit says it should."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from .conftest import QUICKSTART, cli


def _rules(tmp_path: Path, spec_text: str, *args: str) -> Path:
    spec = tmp_path / "inferd.yaml"
    spec.write_text(spec_text, encoding="utf-8")
    result = cli("k8s", "rules", spec, *args)
    assert result.exit_code == 0, result.output
    rules = tmp_path / "rules.yaml"
    rules.write_text(result.stdout, encoding="utf-8")
    return rules


def _promtool_test(promtool: str, rules: Path, tests: list[dict[str, Any]]) -> None:
    unit = rules.parent / "rules.test.yaml"
    document = {"rule_files": [rules.name], "evaluation_interval": "1m", "tests": tests}
    unit.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    result = subprocess.run(
        [promtool, "test", "rules", unit.name],
        capture_output=True, text=True, check=False, timeout=120, cwd=rules.parent,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


_SHADOW = '{job="inferd",deployment="fraud",primary="v1",shadow="v2-shadow",output="label"}'


def _shadow_case(differing_per_minute: int, exp_alerts: list[dict[str, Any]]) -> dict[str, Any]:
    """A shadow compared on 100 label elements a minute, ``differing_per_minute`` of them
    differing, and the InferdShadowDivergence alerts expected after 20 minutes."""
    return {
        "interval": "1m",
        "input_series": [
            {
                "series": f"inferd_gateway_shadow_differing_elements_total{_SHADOW}",
                "values": f"0+{differing_per_minute}x30",
            },
            {
                "series": f"inferd_gateway_shadow_compared_elements_total{_SHADOW}",
                "values": "0+100x30",
            },
        ],
        "alert_rule_test": [
            {"eval_time": "20m", "alertname": "InferdShadowDivergence", "exp_alerts": exp_alerts}
        ],
    }


def test_a_max_divergence_of_0_alerts_on_any_differing_label(promtool: str, tmp_path: Path) -> None:
    """``max_divergence: 0`` asks for answers identical to the primary's (the rollout analysis
    fails a canary on any difference); the alert must not fall back to the 5% default."""
    text = QUICKSTART.read_text(encoding="utf-8")
    assert "max_divergence: 0.05" in text
    rules = _rules(tmp_path, text.replace("max_divergence: 0.05", "max_divergence: 0"), "--local")
    fired = {
        "exp_labels": {"severity": "warning", "deployment": "fraud", "shadow": "v2-shadow"},
        "exp_annotations": {
            "summary": "fraud: the shadow's answers differ from the primary's",
            "description": "fraud: 1% of v2-shadow's label elements differ from the primary's "
            "over 10m (limit 0%, rollout.analysis.max_divergence).",
        },
    }
    _promtool_test(promtool, rules, [_shadow_case(1, [fired]), _shadow_case(0, [])])
