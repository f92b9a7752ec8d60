"""``inferd gpu plan`` with vLLM replicas time-sliced on one GPU: each takes its
``--gpu-memory-utilization`` share of that GPU's memory (what vLLM claims at start), and must
hold its weights, KV cache and overhead inside that share.

Qwen2.5-0.5B (494,032,768 parameters, 24 layers, 2 KV heads, head_dim 64), max_model_len 4096,
max_num_seqs 8: weights 988,065,536 B (0.92 GiB), KV 12,288 B/token x 4,096 x 8 = 0.38 GiB,
+ 2 GiB overhead = 3.30 GiB used per replica.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from .conftest import cli

GIB = 2**30


def _write(tmp_path: Path, parameters: int) -> tuple[Path, Path]:
    spec = tmp_path / "inferd.yaml"
    spec.write_text(
        "apiVersion: inferd.dev/v1\nkind: Stack\ndeployments:\n  - name: chat\n"
        "    versions: [{name: v1, model: chat:v1, replicas: 4}]\n    resources: {gpu: 1}\n"
        "    llm:\n      engine: vllm\n      max_model_len: 4096\n      max_num_seqs: 8\n"
        "      engine_args: ['--gpu-memory-utilization=0.23']\n"
        f"      shape: {{parameters: {parameters}, layers: 24, kv_heads: 2, head_dim: 64}}\n",
        encoding="utf-8",
    )
    nodes = tmp_path / "nodes.yaml"
    nodes.write_text(
        "nodes:\n  - name: l4\n    gpus: [{product: NVIDIA-L4, memory: 24Gi}]\n", "utf-8"
    )
    return spec, nodes


FLAGS = ["--gpu-product", "NVIDIA-L4", "--time-slicing", "4", "--json"]


def test_four_vllm_replicas_claiming_their_share_fit_one_gpu(tmp_path: Path) -> None:
    # Each claims 0.23 x 24 GiB = 5.52 GiB and uses 3.30 GiB of it: all four start.
    spec, nodes = _write(tmp_path, 494_032_768)
    result = cli("gpu", "plan", spec, "--nodes", nodes, *FLAGS)
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert [p["gpus"] for p in report["placements"]] == [[0]] * 4
    (gpu,) = report["gpus"]
    assert gpu["used"] == 4 * int(24 * GIB * 0.23)
    assert gpu["sharing"] == "time-slicing 4/4"


def test_a_replica_larger_than_its_share_does_not_fit(tmp_path: Path) -> None:
    # 3B parameters: 5.59 GiB of weights + 0.38 + 2 = 7.96 GiB, more than a 5.52 GiB share:
    # the GPU would need 7.96 / 0.23 = 34.6 GiB.
    spec, nodes = _write(tmp_path, 3_000_000_000)
    result = cli("gpu", "plan", spec, "--nodes", nodes, *FLAGS)
    assert result.exit_code == 1, result.output
    report = orjson.loads(result.stdout)
    assert not report["placements"]
    reason = report["unplaced"][0]["reason"]
    assert "0.23 of a GPU" in reason and "34.6Gi" in reason
