"""A vLLM deployment's adapter versions (``adapter_of``) run no pods of their own: one vLLM pod
serves a base and every adapter over it (``k8s render`` gives only base versions a Deployment).
So the GPU commands count the base versions' replicas only: ``inferd gpu plan`` placed each
adapter version as a replica of its own, and ``inferd doctor --kubectl`` asked the cluster for
their GPUs too (three replicas' worth for a base with two adapters)."""

from __future__ import annotations

import json
from pathlib import Path

import orjson

from inferd.deploy.cluster_check import check, read_nodes
from inferd.deploy.k8s_options import K8sOptions
from inferd.spec.loading import parse_spec

from .conftest import HERE, cli

SPEC = """apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: bot
    versions:
      - {name: base, model: llama:v1, replicas: 1}
      - {name: tuned, model: lora:v1, adapter_of: base}
      - {name: tuned-next, model: lora:v2, adapter_of: base}
    traffic: {weights: {base: 20, tuned: 70, tuned-next: 10}}
    resources: {gpu: 1}
    llm:
      engine: vllm
      max_model_len: 4096
      shape: {parameters: 8030261248, layers: 32, kv_heads: 8, head_dim: 128}
"""


def test_the_plan_places_the_base_replicas_only(tmp_path: Path) -> None:
    spec = tmp_path / "inferd.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    nodes = tmp_path / "nodes.yaml"
    nodes.write_text(
        "nodes:\n  - name: a100\n    gpus: [{product: NVIDIA-A100-SXM4-80GB, memory: 80Gi}]\n"
    )
    result = cli("gpu", "plan", spec, "--nodes", nodes, "--json")
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert [p["replica"] for p in report["placements"]] == ["bot/base#0"]


def test_the_cluster_check_asks_for_the_base_replicas_only() -> None:
    document = json.loads((HERE / "data" / "kubectl-nodes.json").read_text("utf-8"))
    options = K8sOptions.model_validate({"placement": {"gpu_product": "NVIDIA-A100-SXM4-80GB"}})
    report = check(read_nodes(document), parse_spec(SPEC), options)
    (need,) = report.needs
    assert need.replicas == 1
