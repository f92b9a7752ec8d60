"""The SLO of a language model served by inferd's own engine: its OpenAI requests are counted in
``inferd_llm_requests_total`` and timed in ``gen_ai_server_request_duration_seconds``, never in
``inferd_requests_total``, so its burn-rate alerts must read those (promtool runs them on
synthetic series as ``inferd up``'s gateway passes a replica's on)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import cli, promtool_test_rules, write_rules

SPEC = """\
apiVersion: inferd.dev/v1
kind: Stack
metadata: {name: chat}
deployments:
  - name: bot
    llm: {max_num_seqs: 8}
    versions:
      - {name: v1, model: "llm:v1", replicas: 1}
    slo: {availability: 99, latency_p99: 5s, window: 30d}
"""
_ON = (
    'job="inferd",deployment="bot",replica="bot-v1-1",inferd_version="v1",model="llm",'
    'version="v1",operation="chat"'
)


def _endings(per_minute: dict[str, int]) -> list[dict[str, str]]:
    return [
        {
            "series": f'inferd_llm_requests_total{{{_ON},finish_reason="{reason}"}}',
            "values": f"0+{count}x90",
        }
        for reason, count in per_minute.items()
    ]


def _durations(per_minute: dict[str, int], total: int) -> list[dict[str, str]]:
    name = "gen_ai_server_request_duration_seconds"
    out = [
        {"series": f'{name}_bucket{{{_ON},le="{le}"}}', "values": f"0+{count}x90"}
        for le, count in per_minute.items()
    ]
    return [*out, {"series": f"{name}_count{{{_ON}}}", "values": f"0+{total}x90"}]


def _case(name: str, series: list[dict[str, str]], fired: str | None) -> dict[str, Any]:
    expected = [
        {
            "exp_labels": {"severity": "page", "deployment": "bot", "slo": fired},
            "exp_annotations": _annotations(fired),
        }
    ]
    slow = {
        "exp_labels": {"severity": "warning", "deployment": "bot", "version": "v1"},
        "exp_annotations": {
            "summary": "bot: p99 latency above 5000ms",
            "description": "bot/v1: generations' p99 10.14s over 5m (limit 5000ms: "
            "slo.latency_p99).",
        },
    }
    return {
        "name": name,
        "interval": "1m",
        "input_series": series,
        "alert_rule_test": [
            {
                "eval_time": "80m",
                "alertname": "InferdSloFastBurn",
                "exp_alerts": expected if fired is not None else [],
            },
            {
                "eval_time": "80m",
                "alertname": "InferdLatencyP99AboveSlo",
                "exp_alerts": [slow] if fired == "latency" else [],
            },
        ],
    }


def _annotations(sli: str | None) -> dict[str, str]:
    what = "99% availability" if sli == "availability" else "99% of requests under 5000ms"
    return {
        "summary": f"bot: the {sli} SLO ({what}) burns its error budget too fast",
        "description": f"bot spends its 30d {sli} error budget faster than the SLO allows "
        "(windows 1h/5m at 14.4x, 6h/30m at 6x); "
        "deployment:inferd_slo_error_budget_remaining:ratio shows what is left.",
    }


def test_a_language_models_slo_burns_on_its_generations(promtool: str, tmp_path: Path) -> None:
    spec = tmp_path / "inferd.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    write_rules(tmp_path, spec, "--local")
    fast = _durations({"2.56": 100, "5.12": 100, "+Inf": 100}, 100)
    # 20 of 100 generations a minute fail (limit: 14.4 x 1% over 1h and 5m); cancelled and
    # rejected ones are the clients' doing and do not count.
    failing = _endings({"stop": 70, "length": 10, "error": 20, "cancelled": 50, "rejected": 50})
    healthy = _endings({"stop": 90, "length": 10, "error": 0, "cancelled": 50, "rejected": 50})
    # Half the generations take longer than 5 s (limit: 14.4 x 1% of them).
    slow = _durations({"2.56": 50, "5.12": 50, "10.24": 100, "+Inf": 100}, 100)
    tests = [
        _case("failing generations", failing + fast, "availability"),
        _case("slow generations", healthy + slow, "latency"),
        _case("healthy generations", healthy + fast, None),
    ]
    promtool_test_rules(promtool, tmp_path, tests)


#: Series a language model's requests never write (they are generations).
REQUEST_SERIES = ("inferd_requests_total", "inferd_request_duration_seconds", "inferd_queue_depth")


@pytest.mark.parametrize("platform", ["--local", "--namespace=ml"])
def test_no_rule_of_a_language_model_reads_request_series(tmp_path: Path, platform: str) -> None:
    """Such a rule could never have data: its alert would never fire."""
    spec = tmp_path / "inferd.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    result = cli("k8s", "rules", spec, platform)
    assert result.exit_code == 0, result.output
    rules = [r for g in yaml.safe_load(result.stdout)["groups"] for r in g["rules"]]
    dead = [
        (r.get("alert") or r["record"], s) for r in rules for s in REQUEST_SERIES if s in r["expr"]
    ]
    assert dead == []
    assert "InferdLatencyP99AboveSlo" in {r.get("alert") for r in rules}
