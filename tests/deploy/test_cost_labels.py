"""Labels that cost tools aggregate by (issue 16 item 5): every object and pod of a version
carries ``inferd.dev/deployment``, ``inferd.dev/version`` and, for a pinned model,
``inferd.dev/model-digest``; the ServiceMonitor gives the servers' series the ``deployment``
label that ``inferd up``'s gateway gives them; and a cost section that cannot price a pod on a
cluster is refused."""

from __future__ import annotations

from typing import Any

import pytest

from inferd.deploy.objects import LABEL_DEPLOYMENT, LABEL_MODEL_DIGEST, LABEL_VERSION
from inferd.errors import InvalidArgument
from inferd.spec.loading import parse_spec

from .conftest import render_with, validate

DIGEST = "sha256:" + "ab12" * 16
SPEC = f"""\
apiVersion: inferd.dev/v1
kind: Stack
metadata: {{name: shop}}
deployments:
  - name: fraud
    versions:
      - {{name: v1, model: "registry.example.com/fraud@{DIGEST}", replicas: 2}}
      - {{name: v2, model: "registry.example.com/fraud:v2", replicas: 1}}
    traffic: {{weights: {{v1: 90, v2: 10}}}}
    rollout: {{strategy: canary, steps: [10, 50, 100]}}
    autoscaling: {{min_replicas: 1, max_replicas: 3}}
"""
PER_VERSION = ("Deployment", "Service", "PodDisruptionBudget", "ScaledObject")


def _labels(o: dict[str, Any]) -> dict[str, str]:
    return dict(o["metadata"]["labels"])


def test_every_object_of_a_version_and_its_pods_carry_the_cost_labels() -> None:
    objects = render_with(parse_spec(SPEC))
    per_version = [o for o in objects if o["kind"] in PER_VERSION]
    assert {o["kind"] for o in per_version} == set(PER_VERSION)
    pods = [o["spec"]["template"]["metadata"] for o in objects if o["kind"] == "Deployment"]
    for labels in [*map(_labels, per_version), *(dict(p["labels"]) for p in pods)]:
        assert labels[LABEL_DEPLOYMENT] == "fraud"
        if labels[LABEL_VERSION] == "v1":
            # The pinned digest, shortened to what a label value holds (as inferd ls shows it).
            assert labels[LABEL_MODEL_DIGEST] == "ab12ab12ab12"
        else:
            assert LABEL_MODEL_DIGEST not in labels  # a tag alone: render never reads a store
    for o in objects:
        validate(o)


def test_an_argo_rollout_pod_carries_the_digest_of_the_model_it_runs() -> None:
    objects = render_with(parse_spec(SPEC), progressive="argo", stage="stable")
    (rollout,) = [o for o in objects if o["kind"] == "Rollout"]
    pod = rollout["spec"]["template"]["metadata"]["labels"]
    assert (pod[LABEL_VERSION], pod[LABEL_MODEL_DIGEST]) == ("v1", "ab12ab12ab12")
    canary = render_with(parse_spec(SPEC), progressive="argo", stage="canary")
    (rollout,) = [o for o in canary if o["kind"] == "Rollout"]
    # The candidate (v2, by tag) runs in v1's Rollout: no digest to show.
    assert LABEL_MODEL_DIGEST not in rollout["spec"]["template"]["metadata"]["labels"]


def test_the_service_monitor_labels_server_series_with_their_deployment() -> None:
    objects = render_with(parse_spec(SPEC))
    (monitor,) = [o for o in objects if o["kind"] == "ServiceMonitor"]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["relabelings"] == [
        {
            "action": "replace",
            "sourceLabels": ["__meta_kubernetes_pod_label_inferd_dev_deployment"],
            "targetLabel": "deployment",
        },
        {
            "action": "replace",
            "sourceLabels": ["__meta_kubernetes_pod_label_inferd_dev_version"],
            "targetLabel": "inferd_version",
        },
    ]


def test_the_service_monitor_labels_server_series_with_the_version_they_serve() -> None:
    """``inferd_version`` as ``inferd up``'s gateway gives it: the pod's version label, and on a
    series naming its ``version`` that one (an Argo canary's pods carry the stable version's
    label, but serve the candidate's name: ``{model}:{version}``)."""
    objects = render_with(parse_spec(SPEC), progressive="argo", stage="canary")
    (monitor,) = [o for o in objects if o["kind"] == "ServiceMonitor"]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["metricRelabelings"] == [
        {
            "action": "replace",
            "sourceLabels": ["version"],
            "regex": "(.+)",
            "targetLabel": "inferd_version",
        }
    ]


def test_the_plain_target_renders_one_prometheus_rule_and_kserve_none() -> None:
    spec = parse_spec(SPEC)
    (rule,) = [o for o in render_with(spec) if o["kind"] == "PrometheusRule"]
    assert rule["metadata"]["name"] == "shop"
    assert [g["name"] for g in rule["spec"]["groups"]] == ["inferd.shop.alerts"]
    kserve = render_with(spec, target="kserve", stage="stable")
    assert not [o for o in kserve if o["kind"] == "PrometheusRule"]


@pytest.mark.parametrize(
    ("cost", "problem"),
    [
        ("{price_per_node_hour: 0.4}", "cost.node says what one node holds"),
        ("{cpu_core_hour: 0.04}", "requests GPUs (nvidia.com/gpu) but its placement names no"),
        ("{gpu_hour: {T4: 0.35}}", "cost.gpu_hour has no price for it (priced: T4)"),
    ],
)
def test_a_cost_section_that_cannot_price_the_pods_is_refused(cost: str, problem: str) -> None:
    gpu = """\
apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: ranker
    versions: [{name: v1, model: "registry.example.com/ranker:v1"}]
    resources: {cpu: "1", memory: 2Gi, gpu: 1}
"""
    spec = parse_spec(gpu + f"cost: {cost}\n")
    placement = {} if "cpu_core_hour" in cost else {"gpu_product": "NVIDIA-H100-80GB-HBM3"}
    with pytest.raises(InvalidArgument) as refused:
        render_with(spec, placement=placement)
    assert problem in refused.value.message
