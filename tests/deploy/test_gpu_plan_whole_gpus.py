"""``inferd gpu plan`` gives each replica that asks for ``nvidia.com/gpu`` whole GPUs of its own,
as the device plugin does: without time-slicing or MIG, a GPU is allocated to one pod however
little of its memory the pod's ``gpu_memory`` (or a language model's need) names. Only
``time_slicing`` and ``mig_profile`` share a GPU."""

from __future__ import annotations

from pathlib import Path

import orjson

from inferd.deploy.gpu_capacity import Demand, Gpu
from inferd.deploy.gpu_plan import plan

from .conftest import cli

GIB = 2**30


def _write(tmp_path: Path, replicas: int) -> tuple[Path, Path]:
    spec = tmp_path / "inferd.yaml"
    spec.write_text(
        "apiVersion: inferd.dev/v1\nkind: Stack\ndeployments:\n  - name: ranker\n"
        f"    versions: [{{name: v1, model: ranker:v1, replicas: {replicas}}}]\n"
        "    resources: {gpu: 1, gpu_memory: 4Gi}\n",
        encoding="utf-8",
    )
    nodes = tmp_path / "nodes.yaml"
    nodes.write_text(
        "nodes:\n  - name: l4\n    gpus: [{product: NVIDIA-L4, memory: 22Gi, count: 2}]\n", "utf-8"
    )
    return spec, nodes


def test_replicas_of_small_memory_do_not_share_a_whole_gpu(tmp_path: Path) -> None:
    # Three pods asking for nvidia.com/gpu: 1 on a node with 2 GPUs: the device plugin
    # allocates 2; the third stays Pending, whatever gpu_memory says.
    spec, nodes = _write(tmp_path, 3)
    result = cli("gpu", "plan", spec, "--nodes", nodes, "--json")
    assert result.exit_code == 1, result.output
    report = orjson.loads(result.stdout)
    assert [(p["replica"], p["gpus"]) for p in report["placements"]] == [
        ("ranker/v1#0", [0]), ("ranker/v1#1", [1]),
    ]  # fmt: skip
    (unplaced,) = report["unplaced"]
    assert unplaced["replica"] == "ranker/v1#2"
    assert "whole" in unplaced["reason"] and "time_slicing" in unplaced["reason"]


def test_time_slicing_is_what_shares_the_gpu(tmp_path: Path) -> None:
    spec, nodes = _write(tmp_path, 3)
    result = cli("gpu", "plan", spec, "--nodes", nodes, "--time-slicing", "2", "--json")
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert [p["gpus"] for p in report["placements"]] == [[0], [0], [1]]


def test_language_model_replicas_take_a_gpu_each() -> None:
    # Two replicas of 36.6 GiB each would fit an 80 GiB GPU's memory; each still takes a GPU.
    gpus = [Gpu("a100", i, "NVIDIA-A100-SXM4-80GB", 80 * GIB) for i in range(2)]
    items = [Demand("chat", "v1", r, 1, 39_319_861_476, None) for r in range(3)]
    result = plan(items, gpus)
    assert [p.gpus for p in result.assignments] == [(0,), (1,)]
    (unplaced,) = result.unplaced
    assert unplaced.reason.startswith("needs 1 whole GPU(s) of at least 36.6Gi on one node")
