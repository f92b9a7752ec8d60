"""The rules tell versions apart by ``inferd_version``, the spec's version that ``inferd up``'s
gateway (and on a cluster the ServiceMonitor) gives the servers' series, not by their
``version``, the model's tag: a primary ``stable`` serving ``fraud:v2`` reports ``version="v2"``,
the name of its shadow, whose answers the SLO leaves out (promtool over the series as the
gateway writes them)."""

from __future__ import annotations

from pathlib import Path

from .conftest import promtool_test_rules, write_rules

SPEC = """\
apiVersion: inferd.dev/v1
kind: Stack
metadata: {name: shop}
deployments:
  - name: fraud
    versions:
      - {name: stable, model: "fraud:v2", replicas: 1}
      - {name: v2, model: "fraud:v3", replicas: 1}
    traffic: {weights: {stable: 100}, shadow: v2}
    slo: {availability: 99, window: 30d}
"""
_GATEWAY = 'instance="127.0.0.1:8080",job="inferd",deployment="fraud",model="fraud"'


def _requests(
    replica: str, spec_version: str, tag: str, errors_per_minute: int
) -> list[dict[str, str]]:
    on = f'{_GATEWAY},replica="{replica}",inferd_version="{spec_version}",version="{tag}"'
    return [
        {"series": f'inferd_requests_total{{{on},outcome="success"}}', "values": "0+100x30"},
        {
            "series": f'inferd_requests_total{{{on},outcome="error"}}',
            "values": f"0+{errors_per_minute}x30",
        },
    ]


def test_the_slo_counts_the_primary_whose_tag_is_the_shadows_name(
    promtool: str, tmp_path: Path
) -> None:
    (tmp_path / "inferd.yaml").write_text(SPEC, encoding="utf-8")
    write_rules(tmp_path, tmp_path / "inferd.yaml", "--local")
    # The primary fails 10 of 110 requests; the shadow none.
    series = [
        *_requests("fraud-stable-0", "stable", "v2", 10),
        *_requests("fraud-v2-0", "v2", "v3", 0),
    ]
    ratio = {
        "expr": 'round(deployment:inferd_slo_errors:ratio_rate5m{slo="availability"}, 0.001)',
        "eval_time": "20m",
        "exp_samples": [
            {"labels": '{deployment="fraud",slo="availability"}', "value": 0.091}
        ],
    }  # fmt: skip
    test = {"interval": "1m", "input_series": series, "promql_expr_test": [ratio]}
    promtool_test_rules(promtool, tmp_path, [test])
