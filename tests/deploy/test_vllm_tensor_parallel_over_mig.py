"""vLLM shards a model over whole GPUs (tensor parallelism), not over MIG instances: a vLLM
deployment asking for several MIG slices is refused on every path that takes a placement, the
KServe target and the GPU commands as well as the plain target."""

from __future__ import annotations

from pathlib import Path

import pytest

from inferd.errors import InvalidArgument
from inferd.spec.loading import parse_spec

from .conftest import cli, render_with

SPEC = """apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: chat
    versions: [{name: v1, model: chat:v1}]
    resources: {gpu: 2, cpu: "4", memory: 32Gi}
    llm: {engine: vllm, max_model_len: 4096,
          shape: {parameters: 8030261248, layers: 32, kv_heads: 8, head_dim: 128}}
"""


@pytest.mark.parametrize("target", ["plain", "kserve"])
def test_tensor_parallelism_over_mig_slices_is_refused_on_both_targets(target: str) -> None:
    placement = {"gpu_product": "NVIDIA-A100-SXM4-80GB", "mig_profile": "3g.40gb"}
    with pytest.raises(InvalidArgument, match="not over 2 MIG slices"):
        render_with(parse_spec(SPEC), registry="r.example.com", target=target,
                    placement=placement)  # fmt: skip


def test_the_gpu_plan_refuses_it_too(tmp_path: Path) -> None:
    spec = tmp_path / "inferd.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    nodes = tmp_path / "nodes.yaml"
    nodes.write_text(
        "nodes:\n  - name: a100\n    gpus: [{product: NVIDIA-A100-SXM4-80GB, memory: 80Gi}]\n"
    )
    result = cli("gpu", "plan", spec, "--nodes", nodes, "--mig-profile", "3g.40gb")
    assert result.exit_code == 2
    assert "not over 2 MIG slices" in result.stderr
