"""Latency limits the histograms can measure: ``histogram_quantile`` never reports a quantile above
a histogram's largest finite bucket (it returns that bound when the quantile falls in ``+Inf``),
so a p99 or p95 alert whose limit is at or beyond that bound could never fire, however slow the
requests. Such a limit is refused with the field, the series and its largest bucket named."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .conftest import cli

_TABULAR = """\
apiVersion: inferd.dev/v1
kind: Stack
metadata: {{name: s}}
deployments:
  - name: fraud
    versions: [{{name: v1, model: "fraud:v1", replicas: 1}}]
{extra}
"""
_LLM = """\
apiVersion: inferd.dev/v1
kind: Stack
metadata: {{name: s}}
deployments:
  - name: bot
    llm: {{max_num_seqs: 8}}
    versions: [{{name: v1, model: "llm:v1", replicas: 1}}]
{extra}
"""


def _rules(tmp_path: Path, text: str, *args: str) -> tuple[int, str]:
    spec = tmp_path / "inferd.yaml"
    spec.write_text(text, encoding="utf-8")
    result = cli("k8s", "rules", spec, *args)
    return result.exit_code, result.output


@pytest.mark.parametrize("local", [False, True])
@pytest.mark.parametrize(
    ("template", "extra", "field", "series", "bound"),
    [
        (
            _TABULAR,
            "    slo: {availability: 99.9, latency_p99: 45s}",
            "slo.latency_p99 45s",
            "inferd_request_duration_seconds",
            "30s",
        ),
        (
            _TABULAR,
            "    rollout: {steps: [50, 100], analysis: {max_latency_p99: 30s}}",
            "rollout.analysis.max_latency_p99 30s",
            "inferd_request_duration_seconds",
            "30s",
        ),
        (
            _LLM,
            "    slo: {availability: 99, latency_p99: 200s}",
            "slo.latency_p99 200s",
            "gen_ai_server_request_duration_seconds",
            "163.84s",
        ),
        (
            _LLM,
            "    rollout: {steps: [50, 100], analysis: {max_ttft_p95: 90s}}",
            "rollout.analysis.max_ttft_p95 90s",
            "gen_ai_server_time_to_first_token_seconds",
            "60s",
        ),
        (
            _LLM,
            "    rollout: {steps: [50, 100], analysis: {max_inter_token_latency_p95: 3s}}",
            "rollout.analysis.max_inter_token_latency_p95 3s",
            "gen_ai_server_time_per_output_token_seconds",
            "2.5s",
        ),
    ],
)
def test_a_limit_beyond_the_histograms_largest_bucket_is_refused_naming_it(
    tmp_path: Path, template: str, extra: str, field: str, series: str, bound: str, local: bool
) -> None:
    code, output = _rules(tmp_path, template.format(extra=extra), *(["--local"] if local else []))
    assert code != 0, output
    assert field in output
    assert series in output
    assert f"largest finite bucket, {bound}" in output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("template", "extra"),
    [
        (_TABULAR, "    slo: {availability: 99.9, latency_p99: 29s}"),
        (_TABULAR, "    rollout: {steps: [50, 100], analysis: {max_latency_p99: 250ms}}"),
        (_LLM, "    slo: {availability: 99, latency_p99: 120s}"),
        (
            _LLM,
            "    rollout: {steps: [50, 100],\n"
            "              analysis: {max_ttft_p95: 45s, max_inter_token_latency_p95: 2s}}",
        ),
    ],
)
def test_a_limit_below_the_largest_bucket_renders(
    tmp_path: Path, template: str, extra: str
) -> None:
    code, output = _rules(tmp_path, template.format(extra=extra))
    assert code == 0, output


def test_promtool_never_fires_a_p99_alert_above_the_largest_bucket(
    promtool: str, tmp_path: Path
) -> None:
    """Why the limit is refused: every request in ``+Inf`` (a minute each), p99 reads 30s, and an
    alert at 45s stays quiet (Prometheus' own engine)."""
    (tmp_path / "r.yaml").write_text(
        "groups:\n- name: g\n  rules:\n  - alert: P99\n"
        "    expr: histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m]))) > 45\n",
        encoding="utf-8",
    )
    (tmp_path / "t.yaml").write_text(
        """rule_files: [r.yaml]
evaluation_interval: 1m
tests:
- interval: 1m
  input_series:
  - {series: 'h_bucket{le="30"}', values: '0x20'}
  - {series: 'h_bucket{le="+Inf"}', values: '0+100x20'}
  promql_expr_test:
  - {expr: 'histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m])))', eval_time: 10m,
     exp_samples: [{labels: '{}', value: 30}]}
  alert_rule_test:
  - {alertname: P99, eval_time: 15m, exp_alerts: []}
""",
        encoding="utf-8",
    )
    result = subprocess.run(
        [promtool, "test", "rules", "t.yaml"],
        capture_output=True, text=True, check=False, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
