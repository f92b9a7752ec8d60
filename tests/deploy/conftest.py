"""Helpers for the Kubernetes renderer tests: specs to render, and validation of every object
against real schemas — Kubernetes' own OpenAPI (``kubernetes-validate``) for core kinds, the
published CRD schemas kept in ``schemas/`` for the rest."""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner

from inferd.cli import main
from inferd.deploy.k8s_options import K8sOptions, load_options
from inferd.deploy.render import render
from inferd.spec.loading import load_spec, parse_spec
from inferd.spec.model import Spec

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
QUICKSTART = ROOT / "examples" / "quickstart" / "inferd.yaml"
GPU_SPEC = HERE / "data" / "gpu.yaml"
GPU_OVERLAY = HERE / "data" / "gpu.k8s.yaml"
NODES = HERE / "data" / "nodes.yaml"
GOLDEN = HERE / "golden"
SCHEMAS = HERE / "schemas"
#: The oldest Kubernetes inferd renders for (image volumes), and the newest the validator knows.
K8S_VERSIONS = ("1.31.0", kubernetes_validate.latest_version())
#: Quickstart flags: the examples name no registry, a cluster needs one.
QUICKSTART_FLAGS = ["--registry", "registry.example.com", "--namespace", "ml"]

CRD_SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): "keda.sh_scaledobjects.v1alpha1.yaml",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "monitoring.coreos.com_servicemonitors.v1.yaml",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "monitoring.coreos.com_prometheusrules.v1.yaml",
    # HTTPRoute v1 is v1beta1 promoted unchanged (Gateway API v1.0).
    ("gateway.networking.k8s.io/v1", "HTTPRoute"):
        "gateway.networking.k8s.io_httproutes.v1beta1.yaml",
    ("serving.kserve.io/v1alpha1", "ServingRuntime"):
        "serving.kserve.io_servingruntimes.v1alpha1.yaml",
    ("serving.kserve.io/v1beta1", "InferenceService"):
        "serving.kserve.io_inferenceservices.v1beta1.yaml",
    ("argoproj.io/v1alpha1", "Rollout"): "argoproj.io_rollouts.v1alpha1.yaml",
    ("argoproj.io/v1alpha1", "AnalysisTemplate"): "argoproj.io_analysistemplates.v1alpha1.yaml",
}  # fmt: skip


def _strict(schema: Any) -> Any:
    """The schema with unknown properties refused wherever it lists properties — what
    ``kubectl apply`` (server-side strict field validation) does with a misspelt field."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@cache
def crd_schema(api_version: str, kind: str) -> dict[str, Any]:
    name = CRD_SCHEMAS[(api_version, kind)]
    loaded = yaml.safe_load((SCHEMAS / name).read_text(encoding="utf-8"))
    return _strict(loaded)  # type: ignore[no-any-return]


def validate(obj: dict[str, Any]) -> None:
    """Raise if ``obj`` does not validate against its kind's real schema."""
    key = (obj["apiVersion"], obj["kind"])
    if key in CRD_SCHEMAS:
        jsonschema.validate(copy.deepcopy(obj), crd_schema(*key))
        if obj["kind"] == "Rollout":
            # The CRD's pod template is Kubernetes' PodTemplateSpec: check it with Kubernetes'
            # own schema, as a core PodTemplate.
            template = obj["spec"]["template"]
            meta = {"name": obj["metadata"]["name"]}
            validate({"apiVersion": "v1", "kind": "PodTemplate", "metadata": meta,
                      "template": template})  # fmt: skip
        return
    for version in K8S_VERSIONS:
        kubernetes_validate.validate(copy.deepcopy(obj), version, strict=True)


def one_deployment(deployment: str) -> Spec:
    """A one-deployment spec; ``deployment`` is the YAML of its one list entry."""
    first, *rest = deployment.strip().splitlines()
    body = "\n".join([f"  - {first}", *(f"    {line}" for line in rest)])
    return parse_spec(f"apiVersion: inferd.dev/v1\nkind: Stack\ndeployments:\n{body}\n")


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The rendered ``objects`` of ``kind``."""
    return [o for o in objects if o["kind"] == kind]


def render_with(spec: Spec, **options: Any) -> list[dict[str, Any]]:
    return render(spec, K8sOptions(**options))


@pytest.fixture(scope="session")
def quickstart() -> Spec:
    return load_spec(QUICKSTART)


@pytest.fixture(scope="session")
def gpu_spec() -> Spec:
    return load_spec(GPU_SPEC)


@pytest.fixture(scope="session")
def gpu_options() -> K8sOptions:
    return load_options(GPU_OVERLAY, {})


def cli(*args: str | Path) -> Any:
    """Run ``inferd`` in process; the result has ``exit_code``, ``stdout`` and ``stderr``."""
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def promql_at_5m(
    promtool: str, directory: Path, series: list[tuple[str, str]], expected: Mapping[str, float]
) -> None:
    """Each expression of ``expected``, rounded to 0.001 (a quantile interpolates in floating
    point), evaluates to its value at 5m over ``series`` (name{labels}, per-minute values), by
    promtool's unit-test runner: Prometheus' own engine."""
    checks = [
        {"expr": f"round({expr}, 0.001)", "eval_time": "5m",
         "exp_samples": [{"labels": "{}", "value": value}]}
        for expr, value in expected.items()
    ]  # fmt: skip
    inputs = [{"series": s, "values": v} for s, v in series]
    test = {"interval": "1m", "input_series": inputs, "promql_expr_test": checks}
    unit = {"rule_files": [], "evaluation_interval": "1m", "tests": [test]}
    (directory / "queries.test.yaml").write_text(yaml.safe_dump(unit), encoding="utf-8")
    result = subprocess.run(
        [promtool, "test", "rules", "queries.test.yaml"],
        capture_output=True, text=True, check=False, timeout=120, cwd=directory,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def write_rules(directory: Path, *args: str | Path) -> None:
    """``inferd k8s rules ARGS`` succeeds; its output becomes ``directory/rules.yaml``, the rule
    file :func:`promtool_test_rules` tests."""
    result = cli("k8s", "rules", *args)
    assert result.exit_code == 0, result.output
    (directory / "rules.yaml").write_text(result.stdout, encoding="utf-8")


def promtool_test_rules(promtool: str, directory: Path, tests: list[dict[str, Any]]) -> None:
    """promtool's unit ``tests`` (evaluated every minute) pass over ``directory/rules.yaml``."""
    unit = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests}
    (directory / "tests.yaml").write_text(yaml.safe_dump(unit, sort_keys=False), encoding="utf-8")
    checked = subprocess.run(
        [promtool, "test", "rules", "tests.yaml"],
        cwd=directory, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
