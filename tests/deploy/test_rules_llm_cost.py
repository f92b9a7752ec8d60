"""A language model's predictions in the cluster cost rules: its OpenAI requests are counted in
``inferd_llm_requests_total``, never in ``inferd_requests_total``, so what it costs per 1,000
predictions must count its completed generations (promtool on synthetic kube-state-metrics and
model-server series)."""

from __future__ import annotations

from pathlib import Path

from .conftest import promtool_test_rules, write_rules

SPEC = """\
apiVersion: inferd.dev/v1
kind: Stack
metadata: {name: chat}
deployments:
  - name: bot
    llm: {max_num_seqs: 8}
    versions:
      - {name: v1, model: "llm:v1", replicas: 1}
  - name: fraud
    versions:
      - {name: v1, model: "fraud:v1", replicas: 1}
cost: {cpu_core_hour: 0.06}
"""


def _pod(pod: str, deployment: str) -> list[dict[str, str]]:
    on = f'namespace="ml",pod="{pod}"'
    labels = f'label_inferd_dev_deployment="{deployment}",label_inferd_dev_version="v1"'
    return [
        {"series": f"kube_pod_labels{{{on},{labels}}}", "values": "1x90"},
        {"series": f'kube_pod_status_phase{{{on},phase="Running"}}', "values": "1x90"},
        {
            "series": f'kube_pod_container_resource_requests{{{on},container="server",'
            'resource="cpu",unit="core"}',
            "values": "1x90",
        },
    ]


def _served(pod: str, deployment: str, model: str, service: str) -> str:
    return (
        f'namespace="ml",pod="{pod}",service="{service}",deployment="{deployment}",'
        f'model="{model}",version="v1"'
    )


def test_a_language_models_predictions_are_its_completed_generations(
    promtool: str, tmp_path: Path
) -> None:
    spec = tmp_path / "inferd.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    write_rules(tmp_path, spec, "--namespace", "ml")
    series = _pod("bot-v1-a", "bot") + _pod("fraud-v1-a", "fraud")
    # The language model's pod, scraped through two Services: 30 chat generations a minute
    # end in stop, 20 in length, 10 text completions in stop (60 completed); cancelled and
    # failed ones are no predictions. Its OIP request counter never moves.
    for service in ("bot-v1", "bot-v1-canary"):
        llm = _served("bot-v1-a", "bot", "llm", service)
        series += [
            {"series": f'inferd_requests_total{{{llm},outcome="success"}}', "values": "0x90"},
            {
                "series": f'inferd_llm_requests_total{{{llm},operation="chat",'
                'finish_reason="stop"}',
                "values": "0+30x90",
            },
            {
                "series": f'inferd_llm_requests_total{{{llm},operation="chat",'
                'finish_reason="length"}',
                "values": "0+20x90",
            },
            {
                "series": f'inferd_llm_requests_total{{{llm},operation="text_completion",'
                'finish_reason="stop"}',
                "values": "0+10x90",
            },
            {
                "series": f'inferd_llm_requests_total{{{llm},operation="chat",'
                'finish_reason="cancelled"}',
                "values": "0+7x90",
            },
            {
                "series": f'inferd_llm_requests_total{{{llm},operation="chat",'
                'finish_reason="error"}',
                "values": "0+5x90",
            },
        ]
    # The other deployment's model server answers 40 requests a minute.
    fraud = _served("fraud-v1-a", "fraud", "fraud", "fraud-v1")
    series.append(
        {"series": f'inferd_requests_total{{{fraud},outcome="success"}}', "values": "0+40x90"}
    )
    prefix = 'version:inferd_predictions:increase1h{namespace="ml",deployment='
    per_1k = 'version:inferd_cost_per_1k_predictions:1h{namespace="ml",deployment='
    test = {
        "interval": "1m",
        "input_series": series,
        "promql_expr_test": [
            {
                "expr": "version:inferd_predictions:increase1h",
                "eval_time": "90m",
                "exp_samples": [
                    {"labels": prefix + '"bot",version="v1"}', "value": 3600},
                    {"labels": prefix + '"fraud",version="v1"}', "value": 2400},
                ],
            },
            {
                # $0.06 an hour for one core: per 1,000 of its 3,600 generations an hour.
                "expr": 'version:inferd_cost_per_1k_predictions:1h{deployment="bot"}',
                "eval_time": "90m",
                "exp_samples": [
                    {"labels": per_1k + '"bot",version="v1",currency="USD"}', "value": 0.06 / 3.6}
                ],
            },
        ],
    }
    promtool_test_rules(promtool, tmp_path, [test])
