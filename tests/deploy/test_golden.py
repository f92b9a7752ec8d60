"""Golden files: ``inferd k8s render`` output, byte for byte, for the quickstart in both targets
(and both steps of its canary on KServe, and on Argo Rollouts) and for a GPU spec (A100 MIG
slices, a time-sliced T4, whole H100s).

A deliberate change to the renderer regenerates them with ``INFERD_UPDATE_GOLDEN=1 pytest
tests/deploy/test_golden.py``; review the diff like any other code change.
"""

from __future__ import annotations

import os

import pytest
import yaml

from .conftest import (
    GOLDEN,
    GPU_OVERLAY,
    GPU_SPEC,
    QUICKSTART,
    QUICKSTART_FLAGS,
    cli,
    validate,
)

_QUICKSTART = ["k8s", "render", str(QUICKSTART), *QUICKSTART_FLAGS]
_GPU = ["k8s", "render", str(GPU_SPEC), "--overlay", str(GPU_OVERLAY)]
CASES: dict[str, list[str]] = {
    "quickstart-plain": _QUICKSTART,
    "quickstart-kserve": [*_QUICKSTART, "--target", "kserve"],
    "quickstart-kserve-stable": [*_QUICKSTART, "--target", "kserve", "--stage", "stable"],
    "quickstart-argo": [*_QUICKSTART, "--progressive", "argo"],
    "gpu-plain": _GPU,
    "gpu-kserve": [*_GPU, "--target", "kserve"],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_render_matches_golden(case: str) -> None:
    result = cli(*CASES[case])
    assert result.exit_code == 0, result.output
    path = GOLDEN / f"{case}.yaml"
    if os.environ.get("INFERD_UPDATE_GOLDEN") == "1":
        path.write_text(result.stdout, encoding="utf-8")
    assert result.stdout == path.read_text(encoding="utf-8"), f"{case} differs from {path.name}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_golden_object_validates(case: str) -> None:
    objects = list(yaml.safe_load_all((GOLDEN / f"{case}.yaml").read_text(encoding="utf-8")))
    assert objects
    for obj in objects:
        validate(obj)


def test_rendering_twice_gives_the_same_bytes() -> None:
    first, second = cli(*CASES["gpu-plain"]), cli(*CASES["gpu-plain"])
    assert first.stdout == second.stdout


def test_the_quickstart_golden_holds_what_the_issue_asks_for() -> None:
    objects = list(yaml.safe_load_all((GOLDEN / "quickstart-plain.yaml").read_text("utf-8")))
    kinds = sorted({o["kind"] for o in objects})
    assert kinds == [
        "ConfigMap", "Deployment", "HTTPRoute", "PodDisruptionBudget", "PrometheusRule",
        "ScaledObject", "Service", "ServiceMonitor",
    ]  # fmt: skip
    dashboards = [o for o in objects if o["kind"] == "ConfigMap"]
    assert sorted(o["metadata"]["name"] for o in dashboards) == [
        "quickstart-grafana-fleet", "quickstart-grafana-gpu", "quickstart-grafana-llm",
        "quickstart-grafana-model",
    ]  # fmt: skip
    assert all(o["metadata"]["labels"]["grafana_dashboard"] == "1" for o in dashboards)
    deployments = [o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"]
    assert deployments == ["fraud-v1", "fraud-v2", "fraud-v2-shadow"]
    (route,) = [o for o in objects if o["kind"] == "HTTPRoute"]
    split = route["spec"]["rules"][-1]
    assert [(b["name"], b["weight"]) for b in split["backendRefs"]] == [
        ("fraud-v1", 90),
        ("fraud-v2", 10),
    ]
    assert split["filters"] == [
        {
            "type": "RequestMirror",
            "requestMirror": {"backendRef": {"name": "fraud-v2-shadow", "port": 8080}},
        }
    ]


def test_the_kserve_quickstart_names_what_it_cannot_render() -> None:
    result = cli(*CASES["quickstart-kserve"])
    assert "not rendered: InferenceService/fraud: traffic.shadow (v2-shadow)" in result.stderr
    objects = list(yaml.safe_load_all(result.stdout))
    (isvc,) = [o for o in objects if o["kind"] == "InferenceService"]
    predictor = isvc["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 10
    assert predictor["model"]["storageUri"] == "oci://registry.example.com/fraud:v2"
