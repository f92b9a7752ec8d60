"""``inferd gpu plan`` for language models: weights + KV cache + overhead per GPU, checked by hand
on published model shapes, and how that demand enters the first-fit plan.

Shapes are the models' Hugging Face ``config.json`` values: Llama-2-7B (32 layers, 32 KV heads,
head_dim 4096/32 = 128, 6,738,415,616 parameters), Llama-3.1-8B (32 layers, 8 KV heads, head_dim
128, 8,030,261,248 parameters) and Llama-3.1-70B (80 layers, 8 KV heads, head_dim 128,
70,553,706,496 parameters). GiB = 2**30 = 1,073,741,824 B; the overhead is 2 GiB per GPU and
vLLM claims 0.9 of a GPU unless told otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from inferd.deploy.gpu_capacity import Gpu
from inferd.deploy.gpu_plan import demands, plan
from inferd.deploy.k8s_options import K8sOptions, Placement
from inferd.deploy.llm_fit import llm_sizes
from inferd.deploy.llm_memory import llm_memory
from inferd.errors import InvalidArgument
from inferd.spec.model import Spec

from .conftest import cli

GIB = 2**30

LLAMA2_7B = {"parameters": 6_738_415_616, "layers": 32, "kv_heads": 32, "head_dim": 128}
LLAMA31_8B = {"parameters": 8_030_261_248, "layers": 32, "kv_heads": 8, "head_dim": 128}
LLAMA31_70B = {"parameters": 70_553_706_496, "layers": 80, "kv_heads": 8, "head_dim": 128}

#: One GPU of each size the tests choose among.
PRODUCTS = (
    ("Tesla-T4", 16),
    ("NVIDIA-L4", 24),
    ("NVIDIA-A100-SXM4-40GB", 40),
    ("NVIDIA-A100-SXM4-80GB", 80),
    ("NVIDIA-H100-80GB-HBM3", 80),
)


def _spec(*deployments: dict[str, Any]) -> Spec:
    return Spec.model_validate(
        {"apiVersion": "inferd.dev/v1", "kind": "Stack", "deployments": list(deployments)}
    )


def _llm(
    name: str,
    shape: dict[str, int] | None,
    *,
    gpus: int = 1,
    replicas: int = 1,
    engine: str = "vllm",
    gpu_memory: str | None = None,
    **llm: Any,
) -> dict[str, Any]:
    section: dict[str, Any] = {"engine": engine, **llm}
    if shape is not None:
        section["shape"] = shape
    resources: dict[str, Any] = {"gpu": gpus}
    if gpu_memory is not None:
        resources["gpu_memory"] = gpu_memory
    return {
        "name": name,
        "versions": [{"name": "v1", "model": f"{name}:v1", "replicas": replicas}],
        "runtime": {"device": "cuda"},
        "resources": resources,
        "llm": section,
    }


def _nodes(*products: tuple[str, int], count: int = 1) -> list[Gpu]:
    gpus: list[Gpu] = []
    for node, (product, size) in enumerate(products):
        gpus += [Gpu(f"n{node}", i, product, size * GIB) for i in range(count)]
    return gpus


def _sized(deployment: dict[str, Any]) -> Any:
    (sized,) = llm_sizes(_spec(deployment))
    return sized


# (deployment, weights per GPU, KV cache per GPU, per-GPU need, recommendation), by hand:
CASES = [
    pytest.param(
        # weights 6,738,415,616 x 16 / 8 = 13,476,831,232 B (12.55 GiB)
        # KV 2 x 32 x 32 x 128 x 2 B = 524,288 B/token; x 4,096 x 8 = 17,179,869,184 B (16 GiB)
        # used 13,476,831,232 + 17,179,869,184 + 2,147,483,648 = 32,804,184,064 B
        # / 0.9 = 36,449,093,404.4 -> 36,449,093,405 B (33.95 GiB): a 40 GiB GPU or slice
        _llm("llama2-7b", LLAMA2_7B, max_model_len=4096, max_num_seqs=8),
        13_476_831_232,
        17_179_869_184,
        36_449_093_405,
        "MIG 3g.40gb on NVIDIA-A100-SXM4-80GB: 33.9Gi per GPU",
        id="llama-2-7b",
    ),
    pytest.param(
        # weights 8,030,261,248 x 2 = 16,060,522,496 B (14.96 GiB)
        # KV 2 x 32 x 8 x 128 x 2 B = 131,072 B/token; x 8,192 x 16 = 17,179,869,184 B (16 GiB)
        # used 16,060,522,496 + 17,179,869,184 + 2,147,483,648 = 35,387,875,328 B
        # / 0.9 = 39,319,861,475.6 -> 39,319,861,476 B (36.62 GiB)
        _llm("llama31-8b", LLAMA31_8B, max_model_len=8192, max_num_seqs=16),
        16_060_522_496,
        17_179_869_184,
        39_319_861_476,
        "MIG 3g.40gb on NVIDIA-A100-SXM4-80GB: 36.6Gi per GPU",
        id="llama-3.1-8b",
    ),
    pytest.param(
        # fp8 KV: 65,536 B/token; x 8,192 x 16 = 8,589,934,592 B (8 GiB)
        # used 16,060,522,496 + 8,589,934,592 + 2,147,483,648 = 26,797,940,736 B
        # / 0.95 (engine_args) = 28,208,358,669.5 -> 28,208,358,670 B (26.27 GiB): over an L4
        _llm(
            "llama31-8b-fp8kv",
            LLAMA31_8B,
            max_model_len=8192,
            max_num_seqs=16,
            kv_cache_dtype="fp8",
            engine_args=["--gpu-memory-utilization=0.95"],
        ),
        16_060_522_496,
        8_589_934_592,
        28_208_358_670,
        "MIG 3g.40gb on NVIDIA-A100-SXM4-80GB: 26.3Gi per GPU",
        id="llama-3.1-8b-fp8-kv",
    ),
    pytest.param(
        # llama-server claims no fraction: KV 131,072 x 2,048 x 4 = 1,073,741,824 B (1 GiB)
        # 16,060,522,496 + 1,073,741,824 + 2,147,483,648 = 19,281,747,968 B (17.96 GiB):
        # a 20 GiB slice (1g.20gb, one compute slice) is smaller than an L4's 24 GiB
        _llm(
            "llama31-8b-small",
            LLAMA31_8B,
            engine="llama-server",
            max_model_len=2048,
            max_num_seqs=4,
        ),
        16_060_522_496,
        1_073_741_824,
        19_281_747_968,
        "MIG 1g.20gb on NVIDIA-A100-SXM4-80GB: 18.0Gi per GPU",
        id="llama-3.1-8b-llama-server",
    ),
    pytest.param(
        # tensor parallel 4: weights 70,553,706,496 x 2 / 4 = 35,276,853,248 B (32.85 GiB)
        # KV 2 x 80 x (8 / 4 = 2 heads) x 128 x 2 B = 81,920 B/token; x 8,192 x 32
        # = 21,474,836,480 B (20 GiB; 80 GiB over the 4 GPUs)
        # used 35,276,853,248 + 21,474,836,480 + 2,147,483,648 = 58,899,173,376 B
        # / 0.9 = 65,443,525,973.3 -> 65,443,525,974 B (60.95 GiB): 80 GB GPUs, no MIG (TP)
        _llm("llama31-70b", LLAMA31_70B, gpus=4, max_model_len=8192, max_num_seqs=32),
        35_276_853_248,
        21_474_836_480,
        65_443_525_974,
        "NVIDIA-A100-SXM4-80GB (80Gi): 60.9Gi per GPU",
        id="llama-3.1-70b-tp4",
    ),
]


@pytest.mark.parametrize(("deployment", "weights", "kv", "per_gpu", "recommended"), CASES)
def test_published_shapes_are_sized_as_computed_by_hand(
    deployment: dict[str, Any], weights: int, kv: int, per_gpu: int, recommended: str
) -> None:
    sized = _sized(deployment)
    assert sized.weights_per_gpu == weights
    assert sized.kv_per_gpu == kv
    assert sized.per_gpu == per_gpu
    result = plan([], _nodes(*PRODUCTS), [sized])
    (fit,) = result.llm
    assert fit.recommendation == recommended
    # Every whole GPU listed holds the need, and none left out does.
    assert fit.gpus == [f"{p} ({s}Gi)" for p, s in PRODUCTS if s * GIB >= per_gpu]


def test_the_70b_model_on_one_gpu_is_told_how_many_gpus_it_needs() -> None:
    # TP 1: 141,107,412,992 + 85,899,345,920 + 2,147,483,648 = 229,154,242,560 B / 0.9
    # -> 254,615,825,067 B (237.1 GiB). TP 2: 70,553,706,496 + 42,949,672,960 (4 heads)
    # + 2,147,483,648 = 115,650,863,104 / 0.9 -> 128,500,959,005 B (119.7 GiB), over 80 GiB.
    # TP 4: 65,443,525,974 B (60.95 GiB, as above) fits the first 80 GiB product.
    sized = _sized(_llm("llama31-70b", LLAMA31_70B, max_model_len=8192, max_num_seqs=32))
    assert sized.per_gpu == 254_615_825_067
    assert sized.with_tensor_parallel(2).per_gpu == 128_500_959_005
    (fit,) = plan([], _nodes(*PRODUCTS), [sized]).llm
    assert fit.gpus == [] and fit.mig_profiles == []
    assert fit.recommendation == (
        "no GPU of the nodes holds 237.1Gi per GPU; with resources.gpu: 4 (tensor parallel) "
        "each GPU needs 60.9Gi, which NVIDIA-A100-SXM4-80GB holds"
    )


def test_more_gpus_than_kv_heads_keep_one_head_each() -> None:
    # 8 KV heads over 16 GPUs: vLLM replicates, each GPU keeps 1 head, the same KV as over 8:
    # 2 x 80 x 1 x 128 x 2 B = 40,960 B/token x 8,192 x 32 = 10,737,418,240 B (10 GiB).
    sized = _sized(_llm("llama31-70b", LLAMA31_70B, gpus=16, max_model_len=8192,
                        max_num_seqs=32))  # fmt: skip
    assert sized.kv_heads_per_gpu == 1
    assert sized.kv_per_gpu == 10 * GIB == sized.with_tensor_parallel(8).kv_per_gpu


def test_float32_models_keep_a_float32_kv_cache() -> None:
    # dtype float32 with kv_cache_dtype auto: 4 B per element, 262,144 B/token for the 8B shape.
    sized = _sized(_llm("f32", {**LLAMA31_8B, "weight_bits": 32}, max_model_len=1024,
                        dtype="float32"))  # fmt: skip
    assert sized.kv_per_token == 262_144
    assert sized.weights == 8_030_261_248 * 4


def test_an_llm_replica_demands_its_memory_in_the_first_fit_plan() -> None:
    # Three 8B replicas of 39,319,861,476 B (36.62 GiB): nothing fits the 16 GiB T4; each
    # takes an 80 GiB GPU of its own (an nvidia.com/gpu is one pod's), so the third does not fit.
    spec = _spec(_llm("chat", LLAMA31_8B, replicas=3, max_model_len=8192, max_num_seqs=16))
    items = demands(spec, K8sOptions())
    assert [d.memory for d in items] == [39_319_861_476] * 3
    gpus = [*_nodes(("Tesla-T4", 16)), Gpu("a100", 0, "NVIDIA-A100-SXM4-80GB", 80 * GIB),
            Gpu("a100", 1, "NVIDIA-A100-SXM4-80GB", 80 * GIB)]  # fmt: skip
    result = plan(items, gpus, llm_sizes(spec))
    assert [(p.node, p.gpus) for p in result.assignments] == [("a100", (0,)), ("a100", (1,))]
    assert [u.demand.label for u in result.unplaced] == ["chat/v1#2"]


def test_a_declared_gpu_memory_larger_than_the_need_is_kept() -> None:
    spec = _spec(_llm("chat", LLAMA31_8B, gpu_memory="60Gi", max_model_len=8192,
                      max_num_seqs=16))  # fmt: skip
    (item,) = demands(spec, K8sOptions())
    assert item.memory == 60 * GIB


def test_a_mig_slice_too_small_for_the_llm_does_not_fit() -> None:
    spec = _spec(_llm("chat", LLAMA31_8B, max_model_len=8192, max_num_seqs=16))
    gpus = [Gpu("a100", 0, "NVIDIA-A100-SXM4-80GB", 80 * GIB)]
    small = K8sOptions(deployments={"chat": Placement(mig_profile="2g.20gb")})
    result = plan(demands(spec, small), gpus, llm_sizes(spec))
    (unplaced,) = result.unplaced
    assert unplaced.reason == "needs 36.6Gi per GPU; a 2g.20gb MIG slice has 20Gi"
    assert result.llm[0].mig_profiles == ["3g.40gb on NVIDIA-A100-SXM4-80GB"]
    large = K8sOptions(deployments={"chat": Placement(mig_profile="3g.40gb")})
    placed = plan(demands(spec, large), [Gpu("a100", 0, "NVIDIA-A100-SXM4-80GB", 80 * GIB)])
    assert [p.gpus for p in placed.assignments] == [(0,)]
    assert placed.gpus[0].describe_sharing() == "MIG 1x3g.40gb (3/7 compute, 4/8 memory slices)"


@pytest.mark.parametrize(
    ("llm", "missing"),
    [
        ({"shape": LLAMA31_8B}, "needs llm.max_model_len ("),
        ({"max_model_len": 4096}, "needs llm.shape ("),
        ({}, "needs llm.max_model_len and llm.shape"),
    ],
)
def test_an_llm_without_its_context_or_shape_cannot_be_planned(
    llm: dict[str, Any], missing: str
) -> None:
    shape = llm.pop("shape", None)
    spec = _spec(_llm("chat", shape, **llm))
    with pytest.raises(InvalidArgument, match="deployment 'chat'") as caught:
        demands(spec, K8sOptions())
    assert missing in caught.value.message


def test_a_bad_gpu_memory_utilization_in_engine_args_is_refused() -> None:
    args = ["--gpu-memory-utilization", "1.5"]
    deployment = _spec(_llm("chat", LLAMA31_8B, max_model_len=1024, engine_args=args))
    with pytest.raises(InvalidArgument, match=r"--gpu-memory-utilization '1\.5'"):
        llm_memory(deployment.deployments[0])


def test_cpu_llm_deployments_are_not_sized() -> None:
    deployment = _llm("chat", None, gpus=0, engine="inferd")
    deployment["runtime"] = {"device": "cpu"}
    assert llm_sizes(_spec(deployment)) == []


def test_the_cli_explains_the_arithmetic_and_recommends(tmp_path: Path) -> None:
    spec = {
        "apiVersion": "inferd.dev/v1",
        "kind": "Stack",
        "deployments": [
            _llm("chat", LLAMA31_70B, gpus=4, max_model_len=8192, max_num_seqs=32),
        ],
    }
    spec_file = tmp_path / "inferd.yaml"
    spec_file.write_text(yaml.safe_dump(spec), "utf-8")
    nodes = tmp_path / "nodes.yaml"
    nodes.write_text(
        "nodes:\n  - name: h100\n    gpus: [{product: NVIDIA-H100-80GB-HBM3, memory: 80Gi, "
        "count: 8}]\n",
        "utf-8",
    )
    result = cli("gpu", "plan", str(spec_file), "--nodes", str(nodes), "--explain")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "70,553,706,496 parameters x 16 bits / 8 = 131.42 GiB; / 4 GPUs = 32.85 GiB" in out
    assert "2 x 80 layers x 8 KV heads x 128 head_dim x 2 B = 327,680 B per token" in out
    assert "x 8,192 max_model_len x 32 max_num_seqs = 80.00 GiB" in out
    assert "2 of 8 KV heads per GPU = 20.00 GiB per GPU" in out
    assert "32.85 GiB + 20.00 GiB + 2.00 GiB = 54.85 GiB" in out
    assert "/ gpu-memory-utilization 0.9 = 60.95 GiB of GPU memory" in out
    assert "LLM chat: NVIDIA-H100-80GB-HBM3 (80Gi): 60.9Gi per GPU" in out
    report = orjson.loads(
        cli("gpu", "plan", str(spec_file), "--nodes", str(nodes), "--json").stdout
    )
    (row,) = report["llm"]
    assert row["per_gpu"] == 65_443_525_974 and row["tensor_parallel"] == 4
    assert [p["gpus"] for p in report["placements"]] == [[0, 1, 2, 3]]
