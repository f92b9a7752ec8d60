"""What the rendered objects promise, checked on the objects themselves: safe rollouts and
drains, hardened pods, GPU placement, model delivery, autoscaling, routing — and the specs or
options that cannot be rendered, refused with a message that says why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from inferd.config import BatchingSettings, ServerSettings
from inferd.deploy.k8s_options import K8sOptions, load_options
from inferd.errors import InvalidArgument
from inferd.settings_file import load_settings
from inferd.spec.loading import SpecError, parse_spec
from inferd.spec.model import Spec

from .conftest import QUICKSTART, cli, of_kind, one_deployment, render_with, validate

REGISTRY = "registry.example.com"


ONE = """name: fraud
versions:
  - {name: v1, model: fraud:v1, replicas: 2}
"""


def test_every_deployment_rolls_out_safely_and_drains(quickstart: Spec) -> None:
    objects = render_with(quickstart, registry=REGISTRY)
    for deployment in of_kind(objects, "Deployment"):
        spec = deployment["spec"]
        assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        pod = spec["template"]["spec"]
        (server,) = pod["containers"]
        assert server["lifecycle"]["preStop"]["sleep"]["seconds"] == 5
        # preStop 5 s + the spec's drain_timeout (30 s) + 5 s of margin
        assert pod["terminationGracePeriodSeconds"] == 40
        assert server["startupProbe"]["httpGet"]["path"] == "/v2/health/live"
        assert server["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
        assert server["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
        env = {e["name"]: e["value"] for e in server["env"]}
        assert env["INFERD_DRAIN_TIMEOUT_S"] == "30"
        assert env["INFERD_BATCHING__MAX_BATCH_SIZE"] == "32"


def test_every_batching_setting_reaches_the_pod_as_the_server_reads_it() -> None:
    """A batching field added to the settings reaches Kubernetes pods with no list to update:
    the rendered env, read back the way ``inferd serve`` reads its environment, gives the
    spec's batching exactly."""
    spec = one_deployment(
        ONE + "batching: {max_batch_size: 7, max_queue_delay_ms: 2.5, max_queue_size: 99}\n"
    )
    (deployment, *_) = render_with(spec, registry=REGISTRY)
    (server,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in server["env"]}
    for name in BatchingSettings.model_fields:
        assert f"INFERD_BATCHING__{name.upper()}" in env, name
    served = load_settings(ServerSettings, environ=env)
    assert served.batching == spec.deployments[0].batching
    assert served.batching != BatchingSettings()


def test_pods_are_hardened(quickstart: Spec) -> None:
    for deployment in of_kind(render_with(quickstart, registry=REGISTRY), "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"] + pod["initContainers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"] == {"drop": ["ALL"]}


def test_an_init_container_fills_the_store_so_the_server_needs_no_registry() -> None:
    (deployment, *_) = render_with(one_deployment(ONE), registry=f"{REGISTRY}/ml")
    pod = deployment["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    assert init["args"] == ["tag", f"{REGISTRY}/ml/fraud:v1", "ml/fraud:v1"]
    assert pod["containers"][0]["args"][:2] == ["serve", "ml/fraud:v1"]
    assert {"name": "store", "emptyDir": {}} in pod["volumes"]


def test_image_volume_delivery_mounts_the_models_oci_artifact() -> None:
    objects = render_with(one_deployment(ONE), registry=REGISTRY, model_delivery="image-volume")
    pod = of_kind(objects, "Deployment")[0]["spec"]["template"]["spec"]
    assert {
        "name": "model",
        "image": {"reference": f"{REGISTRY}/fraud:v1", "pullPolicy": "IfNotPresent"},
    } in pod["volumes"]
    (init,) = pod["initContainers"]
    assert init["args"] == ["push", "/var/lib/inferd-artifact", "fraud:v1", "--quiet"]
    assert {"name": "model", "mountPath": "/var/lib/inferd-artifact", "readOnly": True} in init[
        "volumeMounts"
    ]
    for obj in objects:
        validate(obj)


def test_a_model_without_a_registry_is_refused_with_the_fix() -> None:
    with pytest.raises(InvalidArgument, match="pass --registry"):
        render_with(one_deployment(ONE))


@pytest.mark.parametrize("registry", ["", "myreg", "myreg/team", "Bad Host"])
def test_a_registry_that_is_not_a_host_is_refused_not_sent_to_docker_hub(registry: str) -> None:
    # "myreg/fraud:v1" would be docker.io/myreg/fraud to every container runtime.
    with pytest.raises(InvalidArgument, match=r"is not HOST\[:PORT\]"):
        render_with(one_deployment(ONE), registry=registry)


@pytest.mark.parametrize(
    "registry", ["r.example.com:0", "r.example.com:99999/ml", "localhost:65536", "reg:00000"]
)
def test_a_registry_port_outside_the_tcp_range_is_refused(registry: str) -> None:
    with pytest.raises(InvalidArgument, match=r"has port [0-9]+, which is not a TCP port"):
        render_with(one_deployment(ONE), registry=registry)


def test_a_registry_port_flag_outside_the_tcp_range_exits_2(tmp_path: Path) -> None:
    """The spec names no registry; the flag's would be prefixed to every model."""
    spec = tmp_path / "inferd.yaml"
    text = QUICKSTART.read_text(encoding="utf-8").replace("\nregistry: ", "\n# registry: ")
    spec.write_text(text, encoding="utf-8")
    assert "\nregistry:" not in text
    result = cli("k8s", "render", spec, "--registry", "registry.example.com:99999")
    assert result.exit_code == 2
    assert "registry 'registry.example.com:99999' has port 99999" in result.stderr


@pytest.mark.parametrize(
    "registry",
    ["localhost", "localhost:5000/team", "reg:5000", "r.io/a/b", "localhost:1", "r.io:65535/a"],
)
def test_a_registry_host_prefixes_the_models(registry: str) -> None:
    objects = render_with(one_deployment(ONE), registry=registry)
    assert f"{registry}/fraud:v1" in str(objects)


def test_the_spec_names_the_default_registry_and_the_flag_overrides_it() -> None:
    """The README's `inferd k8s render examples/quickstart/inferd.yaml` works as written."""
    result = cli("k8s", "render", QUICKSTART)
    assert result.exit_code == 0, result.stderr
    assert "registry.example.com/ml/fraud:v1" in result.stdout
    flagged = cli("k8s", "render", QUICKSTART, "--registry", "other.example.com/team")
    assert "other.example.com/team/fraud:v1" in flagged.stdout
    assert "registry.example.com/ml/" not in flagged.stdout
    with pytest.raises(SpecError, match="is not a registry's HOST"):
        parse_spec(
            "apiVersion: inferd.dev/v1\nkind: Stack\nregistry: 'https://r.example.com'\n"
            "deployments: [{name: fraud, versions: [{name: v1, model: 'fraud:v1'}]}]\n"
        )
    with pytest.raises(SpecError, match=r"inferd.yaml:3:11: registry: registry 'myreg' is not"):
        parse_spec(
            "apiVersion: inferd.dev/v1\nkind: Stack\nregistry: myreg\n"
            "deployments: [{name: fraud, versions: [{name: v1, model: 'fraud:v1'}]}]\n"
        )
    with pytest.raises(SpecError, match=r"3:11: registry: registry 'r.example.com:0' has port 0"):
        parse_spec(
            "apiVersion: inferd.dev/v1\nkind: Stack\nregistry: r.example.com:0\n"
            "deployments: [{name: fraud, versions: [{name: v1, model: 'fraud:v1'}]}]\n"
        )


def test_a_model_named_unlike_its_deployment_is_reached_through_a_rewrite() -> None:
    objects = render_with(one_deployment(ONE), registry=f"{REGISTRY}/team")
    (route,) = of_kind(objects, "HTTPRoute")
    version_rule, split = route["spec"]["rules"]
    assert version_rule["matches"] == [
        {"path": {"type": "PathPrefix", "value": "/v2/models/fraud/versions/v1"}}
    ]
    assert version_rule["filters"][0]["urlRewrite"]["path"]["replacePrefixMatch"] == (
        "/v2/models/team%2Ffraud"
    )
    # KServe v1 paths are exact matches, which cannot be rewritten: only /v2 is routed.
    assert split["matches"] == [{"path": {"type": "PathPrefix", "value": "/v2/models/fraud"}}]
    assert split["backendRefs"][0]["filters"][0]["type"] == "URLRewrite"


def test_header_routes_come_before_the_weighted_split() -> None:
    spec = one_deployment(
        """name: fraud
versions:
  - {name: a, model: fraud:v1}
  - {name: b, model: fraud:v2}
traffic:
  weights: {a: 50, b: 50}
  header_routes: [{header: x-cohort, value: beta, version: b}]
  sticky_header: x-user
"""
    )
    (route,) = of_kind(render_with(spec, registry=REGISTRY), "HTTPRoute")
    rules = route["spec"]["rules"]
    assert rules[2]["matches"][0]["headers"] == [
        {"type": "Exact", "name": "x-cohort", "value": "beta"}
    ]
    assert rules[2]["backendRefs"] == [{"name": "fraud-b", "port": 8080}]
    assert "sticky_header" in route["metadata"]["annotations"]["inferd.dev/not-rendered"]


def test_autoscaled_versions_leave_replicas_to_the_autoscaler(quickstart: Spec) -> None:
    objects = render_with(quickstart, registry=REGISTRY)
    assert all("replicas" not in d["spec"] for d in of_kind(objects, "Deployment"))
    scaled = of_kind(objects, "ScaledObject")
    assert [s["metadata"]["name"] for s in scaled] == ["fraud-v1", "fraud-v2", "fraud-v2-shadow"]
    (trigger,) = scaled[0]["spec"]["triggers"]
    assert trigger["metadata"]["query"] == 'sum(inferd_queue_depth{service="fraud-v1"})'
    assert trigger["metadata"]["threshold"] == "8"
    assert trigger["metricType"] == "AverageValue"


def test_hpa_mode_renders_custom_metric_autoscalers(quickstart: Spec) -> None:
    objects = render_with(quickstart, registry=REGISTRY, autoscaler="hpa")
    hpas = of_kind(objects, "HorizontalPodAutoscaler")
    assert len(hpas) == 3 and not of_kind(objects, "ScaledObject")
    assert hpas[0]["spec"]["metrics"][0]["pods"]["metric"]["name"] == "inferd_queue_depth"
    for obj in objects:
        validate(obj)


def test_scale_to_zero_keeps_one_replica_and_says_why() -> None:
    """At zero no pod exports the series the ScaledObject's Prometheus query reads and nothing
    holds the first request, so a ScaledObject with ``minReplicaCount: 0`` would never bring
    the version back: the plain target keeps one replica and names what it did not render."""
    spec = one_deployment(
        ONE + "autoscaling: {min_replicas: 0, max_replicas: 4, scale_to_zero_after: 10m}\n"
    )
    (scaled,) = of_kind(render_with(spec, registry=REGISTRY), "ScaledObject")
    assert scaled["spec"]["minReplicaCount"] == 1
    assert "cooldownPeriod" not in scaled["spec"]
    omitted = scaled["metadata"]["annotations"]["inferd.dev/not-rendered"]
    assert "autoscaling.min_replicas 0" in omitted and "scale_to_zero_after" in omitted
    assert "--target kserve" in omitted
    validate(scaled)
    hpa_objects = render_with(spec, registry=REGISTRY, autoscaler="hpa")
    (hpa,) = of_kind(hpa_objects, "HorizontalPodAutoscaler")
    assert hpa["spec"]["minReplicas"] == 1
    omitted = hpa["metadata"]["annotations"]["inferd.dev/not-rendered"]
    assert "autoscaling.min_replicas 0" in omitted
    validate(hpa)


def test_scale_to_zero_is_named_on_stderr(tmp_path: Path) -> None:
    spec = tmp_path / "inferd.yaml"
    spec.write_text(
        "apiVersion: inferd.dev/v1\nkind: Stack\ndeployments:\n  - "
        + (ONE + "autoscaling: {min_replicas: 0, max_replicas: 4}\n").replace("\n", "\n    ")
    )
    result = cli("k8s", "render", spec, "--registry", REGISTRY)
    assert result.exit_code == 0, result.stderr
    assert "ScaledObject/fraud-v1: autoscaling.min_replicas 0" in result.stderr


GPU = ONE + "resources: {gpu: 1, gpu_memory: 12Gi}\n"


def test_a_gpu_deployment_without_a_device_uses_cuda_when_present() -> None:
    (deployment, *_) = render_with(one_deployment(GPU), registry=REGISTRY)
    env = {
        e["name"]: e["value"]
        for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["INFERD_DEVICE"] == "auto"
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].endswith("-gpu")


@pytest.mark.parametrize(
    ("placement", "message"),
    [
        ({"mig_profile": "1g.10gb"}, "does not fit a 1g.10gb MIG slice"),
        ({"mig_profile": "3g.40gb", "time_slicing": 2}, "not both"),
    ],
)
def test_impossible_gpu_placements_are_refused(placement: dict[str, Any], message: str) -> None:
    options = K8sOptions(registry=REGISTRY, deployments={"fraud": placement})
    with pytest.raises(InvalidArgument, match=message):
        render_with(one_deployment(GPU), **options.model_dump())


def test_time_slicing_a_multi_gpu_pod_is_refused() -> None:
    spec = one_deployment(ONE + "resources: {gpu: 2}\n")
    with pytest.raises(InvalidArgument, match="asks for 1 GPU"):
        render_with(spec, registry=REGISTRY, placement={"time_slicing": 4})


def test_gpu_options_that_would_place_nothing_are_refused() -> None:
    with pytest.raises(InvalidArgument, match=r"\(gpu_product\) but no deployment has resources"):
        render_with(one_deployment(ONE), registry=REGISTRY, placement={"gpu_product": "Tesla-T4"})
    with pytest.raises(InvalidArgument, match=r"'fraud': GPU placement .* resources\.gpu is 0"):
        render_with(
            one_deployment(ONE),
            registry=REGISTRY,
            deployments={"fraud": {"mig_profile": "1g.10gb"}},
        )


def test_the_shared_placement_places_the_gpu_deployments_only() -> None:
    spec = parse_spec(
        "apiVersion: inferd.dev/v1\nkind: Stack\ndeployments:\n"
        "  - {name: cpu, versions: [{name: v1, model: fraud:v1}]}\n"
        "  - {name: gpu, resources: {gpu: 1}, versions: [{name: v1, model: fraud:v1}]}\n"
    )
    objects = render_with(spec, registry=REGISTRY, placement={"gpu_product": "Tesla-T4"})
    selectors = {
        o["metadata"]["name"]: o["spec"]["template"]["spec"].get("nodeSelector", {})
        for o in objects
        if o["kind"] == "Deployment"
    }
    assert "nvidia.com/gpu.product" not in selectors["cpu-v1"]
    assert selectors["gpu-v1"]["nvidia.com/gpu.product"] == "Tesla-T4"


def test_the_overlay_must_name_deployments_of_the_spec(tmp_path: Path) -> None:
    overlay = tmp_path / "k8s.yaml"
    overlay.write_text("registry: r.example.com\ndeployments:\n  fruad: {}\n", encoding="utf-8")
    with pytest.raises(InvalidArgument, match="fruad"):
        render_with(one_deployment(ONE), **load_options(overlay, {}).model_dump())


def test_overlay_problems_name_the_file_and_field(tmp_path: Path) -> None:
    overlay = tmp_path / "k8s.yaml"
    overlay.write_text("placement: {mig_profile: big}\nimagee: x\n", encoding="utf-8")
    with pytest.raises(InvalidArgument) as caught:
        load_options(overlay, {})
    assert str(overlay) in caught.value.message
    assert "placement.mig_profile" in caught.value.message
    assert "imagee" in caught.value.message


def test_flags_override_the_overlay(tmp_path: Path) -> None:
    overlay = tmp_path / "k8s.yaml"
    overlay.write_text("image: a:1\nplacement: {gpu_product: Tesla-T4}\n", encoding="utf-8")
    options = load_options(overlay, {"image": "b:2", "runtime_class": "nvidia", "target": None})
    assert options.image == "b:2"
    assert options.placement.gpu_product == "Tesla-T4"
    assert options.placement.runtime_class == "nvidia"


def test_a_name_kubernetes_would_refuse_is_reported() -> None:
    spec = one_deployment(ONE.replace("name: fraud", "name: 9fraud"))
    with pytest.raises(InvalidArgument, match="start with a letter"):
        render_with(spec, registry=REGISTRY)


def test_kserve_splits_at_most_two_versions() -> None:
    spec = one_deployment(
        """name: fraud
versions:
  - {name: a, model: fraud:v1}
  - {name: b, model: fraud:v2}
  - {name: c, model: fraud:v3}
traffic:
  weights: {a: 50, b: 25, c: 25}
"""
    )
    with pytest.raises(InvalidArgument, match="two revisions"):
        render_with(spec, registry=REGISTRY, target="kserve")


def test_versions_that_would_share_a_kubernetes_name_are_refused() -> None:
    spec = parse_spec(
        """apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: a
    versions: [{name: b-c, model: a:v1}]
  - name: a-b
    versions: [{name: c, model: ab:v1}]
"""
    )
    with pytest.raises(InvalidArgument, match="would both be named 'a-b-c'"):
        render_with(spec, registry=REGISTRY)


TRUSTED = """name: rules
versions:
  - {name: v1, model: "rules:v1", trust_code: true}
  - {name: v2, model: "rules:v2"}
traffic: {weights: {v1: 100}}
"""


def test_trust_code_reaches_the_server_of_that_version_only() -> None:
    """``trust_code: true`` is what lets a python model's own code run: without
    ``--trust-code`` the pod's server refuses to load it and never becomes ready."""
    objects = render_with(one_deployment(TRUSTED), registry=REGISTRY)
    args = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["args"]
        for d in of_kind(objects, "Deployment")
    }
    assert args["rules-v1"][-2:] == ["--trust-code", "rules:v1"]
    assert "--trust-code" not in args["rules-v2"]
    for o in objects:
        validate(o)


def test_trust_code_on_the_kserve_target_is_refused_naming_it() -> None:
    with pytest.raises(InvalidArgument, match=r"rules/v1: trust_code"):
        render_with(one_deployment(TRUSTED), registry=REGISTRY, target="kserve")


@pytest.mark.parametrize(
    ("metric", "target"),
    [("latency_p95", "0.25"), ("ttft_p95", "0.5"), ("kv_cache_usage", "0.7"),
     ("tokens_in_flight", "4096")],
)  # fmt: skip
def test_kserve_refuses_a_metric_whose_target_is_not_a_request_count(
    metric: str, target: str
) -> None:
    """KServe scales on concurrency or rps: a latency in seconds, a cache share or a token
    count as its concurrency target (0.25 s → 1 request per pod) would scale on nonsense."""
    scaled = ONE + f"autoscaling: {{min_replicas: 1, max_replicas: 4, metric: {metric}, "
    scaled += f"target: {target}}}\n"
    if metric != "latency_p95":
        scaled += "llm: {engine: inferd}\n"
    with pytest.raises(InvalidArgument, match=rf"fraud: autoscaling.metric {metric}"):
        render_with(one_deployment(scaled), registry=REGISTRY, target="kserve")


@pytest.mark.parametrize(
    ("metric", "kserve"),
    [("concurrency", "concurrency"), ("queue_depth", "concurrency"), ("rps", "rps")],
)
def test_kserve_scales_request_counts_on_their_target(metric: str, kserve: str) -> None:
    scaled = ONE + f"autoscaling: {{min_replicas: 1, max_replicas: 4, metric: {metric}, "
    scaled += "target: 8}\n"
    objects = render_with(one_deployment(scaled), registry=REGISTRY, target="kserve")
    (service,) = of_kind(objects, "InferenceService")
    predictor = service["spec"]["predictor"]
    assert (predictor["scaleMetric"], predictor["scaleTarget"]) == (kserve, 8)


def test_kserve_names_the_autoscaling_timing_it_leaves_to_knative() -> None:
    """Windows, rates and cold starts are inferd's autoscaler's; KServe's (Knative) has its own
    settings, so a spec that sets them is told they are not rendered, and one that does not
    is told nothing."""
    timed = ONE + "autoscaling: {metric: concurrency, target: 8, scale_down_window: 10m, "
    timed += "panic_window: 10s}\n"
    objects = render_with(one_deployment(timed), registry=REGISTRY, target="kserve")
    (service,) = of_kind(objects, "InferenceService")
    omitted = service["metadata"]["annotations"]["inferd.dev/not-rendered"]
    assert "autoscaling.panic_window, autoscaling.scale_down_window: KServe's autoscaler" in omitted
    plain = ONE + "autoscaling: {metric: concurrency, target: 8}\n"
    objects = render_with(one_deployment(plain), registry=REGISTRY, target="kserve")
    (service,) = of_kind(objects, "InferenceService")
    assert "inferd.dev/not-rendered" not in service["metadata"].get("annotations", {})


@pytest.mark.parametrize(
    ("gateway", "timeout"),
    [
        ("", None),
        ("gateway: {drain_timeout: 400s}\n", 410),
        ("gateway: {request_timeout: 900s}\n", 900),
    ],
)
def test_kserve_raises_knatives_timeout_to_cover_drains_and_requests(
    gateway: str, timeout: int | None
) -> None:
    """Knative cuts each request, and sets the pods' grace period, at the revision timeout (300 s
    unless KServe's ``timeout`` says otherwise) and refuses terminationGracePeriodSeconds: a
    longer drain or request timeout raises it, so neither is cut short."""
    body = "  - " + "\n    ".join(ONE.strip().splitlines())
    spec = parse_spec(f"apiVersion: inferd.dev/v1\nkind: Stack\n{gateway}deployments:\n{body}\n")
    (service,) = of_kind(render_with(spec, registry=REGISTRY, target="kserve"), "InferenceService")
    assert service["spec"]["predictor"].get("timeout") == timeout
    assert "terminationGracePeriodSeconds" not in service["spec"]["predictor"]
