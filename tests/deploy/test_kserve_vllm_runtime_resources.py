"""A vLLM deployment on KServe runs in KServe's own Hugging Face runtime
(``kserve-huggingfaceserver``), whose container declares ``requests`` and ``limits`` of 1 CPU and
2Gi. KServe merges the InferenceService's model container into the runtime's with a strategic
merge patch (``MergeRuntimeContainers``), which merges ``requests`` and ``limits`` key by key: a
key the InferenceService does not set keeps the runtime's value. So the predictor must set what
the pod needs, or the merged pod is invalid (a CPU request above the CPU limit) or starves."""

from __future__ import annotations

from typing import Any

from inferd.spec.model import Spec

from .conftest import render_with, validate

#: KServe's config/runtimes/kserve-huggingfaceserver.yaml.
RUNTIME_RESOURCES = {
    "requests": {"cpu": "1", "memory": "2Gi"},
    "limits": {"cpu": "1", "memory": "2Gi"},
}


def _merged(model: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The merged container's resources, as the strategic merge patch merges the two maps."""
    ours = model.get("resources", {})
    return {
        kind: {**RUNTIME_RESOURCES[kind], **ours.get(kind, {})} for kind in ("requests", "limits")
    }


def _cores(value: str) -> float:
    return float(value[:-1]) / 1000 if value.endswith("m") else float(value)


def _isvc(resources: dict[str, Any]) -> dict[str, Any]:
    spec = Spec.model_validate(
        {
            "apiVersion": "inferd.dev/v1",
            "kind": "Stack",
            "deployments": [
                {
                    "name": "chat",
                    "versions": [{"name": "v1", "model": "chat:v1"}],
                    "resources": {"gpu": 1, **resources},
                    "llm": {"engine": "vllm"},
                }
            ],
        }
    )
    (isvc,) = render_with(spec, registry="registry.example.com/llm", target="kserve")
    validate(isvc)
    return isvc


def test_a_cpu_request_above_the_runtimes_cpu_limit_gets_its_own_limit() -> None:
    isvc = _isvc({"cpu": "8", "memory": "64Gi"})
    merged = _merged(isvc["spec"]["predictor"]["model"])
    # Kubernetes refuses a pod whose request exceeds its limit.
    assert _cores(merged["requests"]["cpu"]) <= _cores(merged["limits"]["cpu"])
    assert merged["limits"] == {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": 1}


def test_the_runtimes_defaults_are_named_where_the_spec_sets_no_cpu_or_memory() -> None:
    isvc = _isvc({})
    note = isvc["metadata"]["annotations"]["inferd.dev/not-rendered"]
    assert "resources.cpu and resources.memory" in note
    assert "1 CPU and 2Gi" in note
