"""Alerts on language models' generations: the rollout analysis' ``max_ttft_p95``,
``max_inter_token_latency_p95`` and ``max_error_rate`` become alerts on the GenAI series, which
OpenAI traffic writes (it never reaches ``inferd_requests_total``); promtool runs them on
synthetic series, firing on a slow or failing model and quiet on a healthy one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from inferd.deploy.k8s_options import K8sOptions
from inferd.deploy.rules import rule_groups
from inferd.spec.loading import load_spec

from .conftest import ROOT, cli, promtool_test_rules, write_rules

LLM_EXAMPLE = ROOT / "examples" / "llm" / "inferd.yaml"
GENERATION_ALERTS = {
    "InferdGenerationErrorRateHigh",
    "InferdTimeToFirstTokenHigh",
    "InferdTimePerOutputTokenHigh",
}

SPEC = """\
apiVersion: inferd.dev/v1
kind: Stack
metadata: {name: chat}
deployments:
  - name: bot
    llm: {max_num_seqs: 8}
    versions:
      - {name: v1, model: "llm:v1", replicas: 1}
    rollout:
      strategy: canary
      steps: [50, 100]
      analysis: {max_error_rate: 0.02, max_ttft_p95: 500ms, max_inter_token_latency_p95: 50ms}
"""

#: Series as the gateway of ``inferd up`` passes a replica's on.
_ON = (
    'instance="127.0.0.1:8080",job="inferd",deployment="bot",replica="bot-v1-1",'
    'inferd_version="v1",model="llm"'
)
_OP = f'{_ON},version="v1",operation="chat"'


def _alerts(spec_path: Path, platform: Any) -> dict[str, dict[str, Any]]:
    spec = load_spec(spec_path)
    out: dict[str, dict[str, Any]] = {}
    for group in rule_groups(spec, K8sOptions(), platform):
        for rule in group.rules:
            if rule.kind == "alert":
                out[rule.name] = rule.document()
    return out


@pytest.mark.parametrize("platform", ["local", "kubernetes"])
def test_the_llm_examples_ttft_limit_is_an_alert(platform: str) -> None:
    alerts = _alerts(LLM_EXAMPLE, platform)
    ttft = alerts["InferdTimeToFirstTokenHigh"]
    assert "gen_ai_server_time_to_first_token_seconds_bucket" in ttft["expr"]
    assert ttft["expr"].endswith("> 0.5")
    assert ttft["for"] == "10m"
    assert "rollout.analysis.max_ttft_p95" in ttft["annotations"]["description"]
    errors = alerts["InferdGenerationErrorRateHigh"]
    assert (
        'inferd_llm_requests_total{deployment="support-bot",finish_reason=~"error|shed"}'
        in (errors["expr"])
    )
    assert errors["expr"].endswith("> 0.01")
    # No max_inter_token_latency_p95 in the example: no alert on it.
    assert "InferdTimePerOutputTokenHigh" not in alerts


def test_thresholds_come_from_the_analysis(tmp_path: Path) -> None:
    path = tmp_path / "inferd.yaml"
    path.write_text(SPEC, encoding="utf-8")
    alerts = _alerts(path, "local")
    assert alerts["InferdTimeToFirstTokenHigh"]["expr"].endswith("> 0.5")
    assert alerts["InferdTimePerOutputTokenHigh"]["expr"].endswith("> 0.05")
    assert (
        "gen_ai_server_time_per_output_token_seconds_bucket"
        in (alerts["InferdTimePerOutputTokenHigh"]["expr"])
    )
    assert alerts["InferdGenerationErrorRateHigh"]["expr"].endswith("> 0.02")


@pytest.mark.parametrize("engine", ["vllm", "llama-server"])
def test_an_external_engine_gets_no_generation_alerts(tmp_path: Path, engine: str) -> None:
    """An external engine exports no GenAI series: an alert on them could never fire."""
    path = tmp_path / "inferd.yaml"
    gpu = "\n    resources: {gpu: 1}\n    runtime: {device: cuda}" if engine == "vllm" else ""
    text = SPEC.replace("llm: {max_num_seqs: 8}", f"llm: {{engine: {engine}}}{gpu}")
    path.write_text(text, encoding="utf-8")
    assert GENERATION_ALERTS.isdisjoint(_alerts(path, "local"))


def test_a_model_that_is_no_llm_gets_no_generation_error_alert() -> None:
    alerts = _alerts(ROOT / "examples" / "quickstart" / "inferd.yaml", "local")
    assert GENERATION_ALERTS.isdisjoint(alerts)


def _histogram(name: str, bounds: dict[str, str]) -> list[dict[str, str]]:
    return [
        {"series": f'{name}_bucket{{{_OP},le="{le}"}}', "values": values}
        for le, values in bounds.items()
    ]


#: What each alert says about the slow, failing model below.
FIRING = {
    "InferdGenerationErrorRateHigh": (
        "bot: more than 2% of generations fail",
        "bot/v1: 10% of generations failed (a deadline passed, the engine stopped) or were shed "
        "(503: queue full) over 5m (limit 2%, rollout.analysis.max_error_rate).",
    ),
    "InferdTimeToFirstTokenHigh": (
        "bot: p95 time to first token above 500ms",
        "bot/v1: p95 time to first token 975ms over 5m (limit 500ms: "
        "rollout.analysis.max_ttft_p95).",
    ),
    "InferdTimePerOutputTokenHigh": (
        "bot: p95 time per output token above 50ms",
        "bot/v1: p95 time per output token 97.5ms over 5m (limit 50ms: "
        "rollout.analysis.max_inter_token_latency_p95).",
    ),
}


def _case(name: str, series: list[dict[str, str]], fires: set[str]) -> dict[str, Any]:
    checks: list[dict[str, Any]] = []
    for alert in sorted(GENERATION_ALERTS):
        expected: list[dict[str, Any]] = []
        if alert in fires:
            summary, description = FIRING[alert]
            expected = [
                {
                    "exp_labels": {"severity": "warning", "deployment": "bot", "version": "v1"},
                    "exp_annotations": {"summary": summary, "description": description},
                }
            ]
        checks += [
            {"eval_time": "4m", "alertname": alert, "exp_alerts": []},
            {"eval_time": "20m", "alertname": alert, "exp_alerts": expected},
        ]
    return {"name": name, "interval": "1m", "input_series": series, "alert_rule_test": checks}


def _endings(error_per_min: int) -> list[dict[str, str]]:
    per_min = {"stop": 100 - error_per_min, "error": error_per_min, "length": 0}
    return [
        {
            "series": f'inferd_llm_requests_total{{{_OP},finish_reason="{reason}"}}',
            "values": f"0+{n}x30",
        }
        for reason, n in per_min.items()
    ]


def _unit_tests() -> list[dict[str, Any]]:
    ttft = "gen_ai_server_time_to_first_token_seconds"
    tpot = "gen_ai_server_time_per_output_token_seconds"
    # 100 generations a minute: slow ones take 1 s to their first token and 0.1 s per token
    # after it, quick ones 0.1 s and 0.01 s.
    none, all_ = "0x30", "0+100x30"
    slow = _histogram(ttft, {"0.1": none, "0.5": none, "1.0": all_, "+Inf": all_})
    slow += _histogram(tpot, {"0.01": none, "0.05": none, "0.1": all_, "+Inf": all_})
    quick = _histogram(ttft, {"0.1": all_, "0.5": all_, "+Inf": all_})
    quick += _histogram(tpot, {"0.01": all_, "0.05": all_, "+Inf": all_})
    return [
        _case("slow and failing generations", slow + _endings(10), GENERATION_ALERTS),
        _case("quick generations, 1 in 100 failing", quick + _endings(1), set()),
    ]


def test_promtool_fires_the_generation_alerts_on_a_slow_failing_model(
    promtool: str, tmp_path: Path
) -> None:
    spec = tmp_path / "inferd.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    write_rules(tmp_path, spec, "--local")
    promtool_test_rules(promtool, tmp_path, _unit_tests())


#: Series only inferd's own model servers export (a vLLM or llama-server replica never does).
SERVER_SERIES = (
    "inferd_requests_total", "inferd_request_duration_seconds", "inferd_queue_depth",
    "inferd_input_drift_psi", "inferd_model_load_failures_total", "DCGM_FI_DEV_FB_USED",
)  # fmt: skip


@pytest.mark.parametrize("platform", ["local", "kubernetes"])
def test_an_external_engine_gets_no_alert_on_series_it_does_not_export(platform: str) -> None:
    """tests/deploy/data/llm.yaml serves vLLM: its pods export vllm:* series, so an alert on
    inferd's request, queue, drift, load or GPU series could never fire."""
    spec = load_spec(ROOT / "tests" / "deploy" / "data" / "llm.yaml")
    rules = [r for g in rule_groups(spec, K8sOptions(), platform) for r in g.rules]
    dead = [(r.name, s) for r in rules for s in SERVER_SERIES if s in r.expr]
    assert dead == []
    if platform == "kubernetes":  # what kube-state-metrics tells still alerts
        assert {"InferdNoReadyReplicas", "InferdReplicaRestarting"} <= {r.name for r in rules}


def test_an_slo_an_external_engine_cannot_measure_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "inferd.yaml"
    text = SPEC.replace("llm: {max_num_seqs: 8}", "llm: {engine: llama-server}")
    path.write_text(text + "    slo: {availability: 99.9}\n", encoding="utf-8")
    result = cli("k8s", "rules", path, "--local")
    assert result.exit_code != 0
    assert "deployment 'bot'" in result.stderr
    assert "slo" in result.stderr and "llama-server" in result.stderr
