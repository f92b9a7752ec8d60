"""A language model sized by its ``llm`` section (``shape`` and ``max_model_len``) lands only on
GPUs that hold it: its pods get the ``nvidia.com/gpu.memory`` node affinity of what one GPU of
a replica needs, as a ``gpu_memory`` would give them, so that on a pool of mixed GPUs the
scheduler does not put a 36.6 GiB replica on a 16 GiB T4 (where ``inferd gpu plan`` would never
have placed it). Llama-3.1-8B, max_model_len 8192, max_num_seqs 16 on vLLM: 39,319,861,476 B per
GPU (tests/deploy/test_gpu_plan_llm.py), 37,499 MiB rounded up."""

from __future__ import annotations

from typing import Any

import pytest

from inferd.spec.model import Spec

from .conftest import render_with, validate

LLAMA31_8B = {"parameters": 8_030_261_248, "layers": 32, "kv_heads": 8, "head_dim": 128}


def _spec(gpu_memory: str | None = None) -> Spec:
    resources: dict[str, Any] = {"gpu": 1}
    if gpu_memory is not None:
        resources["gpu_memory"] = gpu_memory
    return Spec.model_validate(
        {
            "apiVersion": "inferd.dev/v1",
            "kind": "Stack",
            "deployments": [
                {
                    "name": "chat",
                    "versions": [{"name": "v1", "model": "chat:v1"}],
                    "resources": resources,
                    "llm": {"engine": "vllm", "max_model_len": 8192, "max_num_seqs": 16,
                            "shape": LLAMA31_8B},
                }
            ],
        }
    )  # fmt: skip


def _affinity(objects: list[dict[str, Any]]) -> list[str] | None:
    workload = objects[0]
    pod = (
        workload["spec"]["template"]["spec"]
        if workload["kind"] == "Deployment"
        else workload["spec"]["predictor"]
    )
    if "affinity" not in pod:
        return None
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    (requirement,) = terms["nodeSelectorTerms"][0]["matchExpressions"]
    assert (requirement["key"], requirement["operator"]) == ("nvidia.com/gpu.memory", "Gt")
    return list(requirement["values"])


@pytest.mark.parametrize("target", ["plain", "kserve"])
def test_an_llm_asks_for_the_gpu_memory_it_needs(target: str) -> None:
    objects = render_with(_spec(), registry="r.example.com", target=target)
    validate(objects[0])
    # ceil(39,319,861,476 / 2**20) = 37,499 MiB; Gt is strict.
    assert _affinity(objects) == ["37498"]


def test_a_larger_declared_gpu_memory_wins() -> None:
    objects = render_with(_spec("60Gi"), registry="r.example.com")
    assert _affinity(objects) == ["61439"]


def test_on_a_mig_slice_the_slice_is_the_guarantee() -> None:
    objects = render_with(_spec(), registry="r.example.com", placement={"mig_profile": "3g.40gb"})
    assert _affinity(objects) is None
