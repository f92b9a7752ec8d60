"""``inferd k8s render`` refuses pods whose GPU memory need the placement's GPU cannot hold:
pods that would stay Pending forever or crash at start on the cluster.

The arithmetic is the planner's (:mod:`inferd.deploy.llm_memory`), checked by hand in
tests/deploy/test_gpu_plan_llm.py; here only which placements render and which are refused.
Llama-3.1-70B: 70,553,706,496 parameters, 80 layers, 8 KV heads, head_dim 128. Qwen2.5-0.5B:
494,032,768 parameters, 24 layers, 2 KV heads, head_dim 64.
"""

from __future__ import annotations

from typing import Any

import pytest

from inferd.errors import InvalidArgument
from inferd.spec.model import Spec

from .conftest import cli, render_with, validate

REGISTRY = "registry.example.com/ml"
LLAMA31_70B = {"parameters": 70_553_706_496, "layers": 80, "kv_heads": 8, "head_dim": 128}
QWEN25_05B = {"parameters": 494_032_768, "layers": 24, "kv_heads": 2, "head_dim": 64}


def _spec(
    shape: dict[str, int] | None,
    *,
    gpus: int = 1,
    engine: str = "vllm",
    replicas: int = 1,
    gpu_memory: str | None = None,
    **llm: Any,
) -> Spec:
    resources: dict[str, Any] = {"gpu": gpus}
    if gpu_memory is not None:
        resources["gpu_memory"] = gpu_memory
    deployment: dict[str, Any] = {
        "name": "chat",
        "versions": [{"name": "v1", "model": "chat:v1", "replicas": replicas}],
        "resources": resources,
    }
    if shape is not None or llm:
        section: dict[str, Any] = {"engine": engine, **llm}
        if shape is not None:
            section["shape"] = shape
        deployment["llm"] = section
    return Spec.model_validate(
        {"apiVersion": "inferd.dev/v1", "kind": "Stack", "deployments": [deployment]}
    )


def _70b(**kwargs: Any) -> Spec:
    return _spec(LLAMA31_70B, max_model_len=8192, max_num_seqs=32, **kwargs)


@pytest.mark.parametrize(
    ("placement", "gpus", "message"),
    [
        # 131.42 + 80.00 + 2.00 = 213.42 GiB; / 0.9 = 237.13 GiB on one GPU.
        ({"gpu_product": "NVIDIA-L4"}, 1, "237.13 GiB of GPU memory per GPU; a NVIDIA-L4 has"),
        (
            {"gpu_product": "NVIDIA-A100-SXM4-80GB", "mig_profile": "3g.40gb"},
            1,
            "237.13 GiB of GPU memory per GPU; a 3g.40gb MIG slice has 40.00 GiB",
        ),
        # Over 2 H100s: 65.71 + 40.00 + 2.00 = 107.71 GiB; / 0.9 = 119.68 GiB per GPU.
        (
            {"gpu_product": "NVIDIA-H100-80GB-HBM3"},
            2,
            "119.68 GiB of GPU memory per GPU; a NVIDIA-H100-80GB-HBM3 has 79.65 GiB",
        ),
    ],
)
def test_a_language_model_too_big_for_its_gpu_is_refused_with_the_arithmetic(
    placement: dict[str, Any], gpus: int, message: str
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        render_with(_70b(gpus=gpus), registry=REGISTRY, placement=placement)
    text = str(refused.value)
    assert "deployment 'chat'" in text
    assert message in text
    # The terms, so that the user sees which one to shrink.
    assert "70,553,706,496 parameters x 16 bits / 8 = 131.42 GiB" in text
    assert "max_model_len" in text and "resources.gpu" in text


def test_a_language_model_that_fits_its_gpu_renders() -> None:
    # Over 4 H100s: 32.85 + 20.00 + 2.00 = 54.85 GiB; / 0.9 = 60.95 GiB of an 80 GiB GPU.
    objects = render_with(
        _70b(gpus=4), registry=REGISTRY, placement={"gpu_product": "NVIDIA-H100-80GB-HBM3"}
    )
    for rendered in objects:
        validate(rendered)
    assert objects[0]["kind"] == "Deployment"


def test_a_gpu_memory_larger_than_the_products_is_refused() -> None:
    # The pod's node affinity would ask for nvidia.com/gpu.memory > 102399 on nodes labelled
    # as 80 GB GPUs: no node matches both, and the pods stay Pending.
    spec = _spec(None, gpu_memory="100Gi")
    with pytest.raises(InvalidArgument, match=r"gpu_memory 100Gi .* NVIDIA-A100-SXM4-80GB has 80"):
        render_with(spec, registry=REGISTRY, placement={"gpu_product": "NVIDIA-A100-SXM4-80GB"})


def test_without_a_known_memory_or_a_shape_nothing_is_second_guessed() -> None:
    # A product whose memory is not known here, and an LLM without llm.shape, render as before.
    render_with(_70b(), registry=REGISTRY, placement={"gpu_product": "NVIDIA-B200"})
    render_with(_spec(None, max_model_len=8192), registry=REGISTRY,
                placement={"gpu_product": "NVIDIA-L4"})  # fmt: skip


@pytest.mark.parametrize(
    "args",
    [[], ["--gpu-memory-utilization", "0.5"], ["--gpu-memory-utilization=0.25"]],
)
def test_time_sliced_vllm_replicas_must_leave_each_other_memory(args: list[str]) -> None:
    # vLLM refuses to start unless --gpu-memory-utilization of the GPU's memory is free, so
    # the second vLLM on a time-sliced GPU whose first claimed 0.9 (or 0.5) never starts; and
    # four of 0.25 leave the last nothing, the driver's reservation never being free.
    spec = _spec(QWEN25_05B, max_model_len=4096, max_num_seqs=8, engine_args=args, replicas=4)
    with pytest.raises(InvalidArgument) as refused:
        render_with(spec, registry=REGISTRY,
                    placement={"gpu_product": "NVIDIA-L4", "time_slicing": 4})  # fmt: skip
    text = str(refused.value)
    assert "--gpu-memory-utilization" in text and "time_slicing 4" in text
    assert "at most 0.23" in text


def test_time_sliced_vllm_replicas_with_their_share_render() -> None:
    spec = _spec(QWEN25_05B, max_model_len=4096, max_num_seqs=8, replicas=4,
                 engine_args=["--gpu-memory-utilization=0.23"])  # fmt: skip
    objects = render_with(
        spec, registry=REGISTRY, placement={"gpu_product": "NVIDIA-L4", "time_slicing": 4}
    )
    for rendered in objects:
        validate(rendered)
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert "--gpu-memory-utilization=0.23" in container["args"]


def test_the_cli_refuses_with_exit_2_and_the_gpu_plan_agrees(tmp_path: Any) -> None:
    spec = tmp_path / "inferd.yaml"
    spec.write_text(
        "apiVersion: inferd.dev/v1\nkind: Stack\ndeployments:\n  - name: chat\n"
        "    versions: [{name: v1, model: chat:v1, replicas: 4}]\n    resources: {gpu: 1}\n"
        "    llm: {engine: vllm, max_model_len: 4096, max_num_seqs: 8,\n"
        "          shape: {parameters: 494032768, layers: 24, kv_heads: 2, head_dim: 64}}\n",
        encoding="utf-8",
    )
    nodes = tmp_path / "nodes.yaml"
    nodes.write_text(
        "nodes:\n  - name: l4\n    gpus: [{product: NVIDIA-L4, memory: 22Gi}]\n", "utf-8"
    )
    flags = ["--gpu-product", "NVIDIA-L4", "--time-slicing", "4"]
    rendered = cli("k8s", "render", spec, "--registry", REGISTRY, *flags)
    assert rendered.exit_code == 2
    assert "--gpu-memory-utilization" in rendered.stderr
    planned = cli("gpu", "plan", spec, "--nodes", nodes, *flags)
    assert planned.exit_code == 2
    assert "--gpu-memory-utilization" in planned.stderr


def test_an_h100_80gb_has_less_than_80_gib() -> None:
    # NVML and GPU feature discovery report 81,559 MiB for an H100 80GB HBM3: the affinity of
    # gpu_memory 80Gi (nvidia.com/gpu.memory > 81919) matches none of them. An A100 80GB has
    # 81,920 MiB, and takes it.
    spec = _spec(None, gpu_memory="80Gi")
    with pytest.raises(InvalidArgument, match=r"has 79\.65 GiB \(81559 MiB"):
        render_with(spec, registry=REGISTRY, placement={"gpu_product": "NVIDIA-H100-80GB-HBM3"})
    render_with(spec, registry=REGISTRY, placement={"gpu_product": "NVIDIA-A100-SXM4-80GB"})
    render_with(_spec(None, gpu_memory="79Gi"), registry=REGISTRY,
                placement={"gpu_product": "NVIDIA-H100-80GB-HBM3"})  # fmt: skip


def test_time_sliced_replicas_whose_gpu_memory_adds_up_to_more_than_the_gpu_are_refused() -> None:
    # Time-slicing does not partition memory: the device plugin hands out 4 replicas of each
    # 15 GiB T4, so 4 pods of 6Gi may land on one GPU and the last ones run out of memory.
    spec = _spec(None, gpu_memory="6Gi", replicas=4)
    placement = {"gpu_product": "Tesla-T4", "time_slicing": 4}
    with pytest.raises(InvalidArgument) as refused:
        render_with(spec, registry=REGISTRY, placement=placement)
    text = str(refused.value)
    assert "time_slicing 4 x gpu_memory 6Gi = 24.00 GiB" in text
    assert "Tesla-T4 has 15.00 GiB" in text and "time_slicing 2" in text
    render_with(spec, registry=REGISTRY, placement={**placement, "time_slicing": 2})
