"""Language models on Kubernetes (issue 14 item 6): ``llm.engine: vllm`` deployments rendered as
``vllm serve`` pods (one per base version, its LoRA adapters on the same pod), their Services,
KEDA scaling on vLLM's series, the OpenAI route, and the KServe Hugging Face runtime — every
object checked against the real schemas, and the whole output against a golden file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from inferd.config import ServerSettings
from inferd.deploy.k8s_options import K8sOptions, load_options
from inferd.deploy.render import render
from inferd.deploy.vllm import query as vllm_query
from inferd.errors import InvalidArgument
from inferd.settings_file import load_settings
from inferd.spec.loading import load_spec, parse_spec
from inferd.spec.model import Spec

from .conftest import GOLDEN, HERE, cli, of_kind, one_deployment, promql_at_5m, validate

LLM_SPEC = HERE / "data" / "llm.yaml"
LLM_OVERLAY = HERE / "data" / "llm.k8s.yaml"
GOLDEN_CASES = {
    "llm-plain": ["k8s", "render", str(LLM_SPEC), "--overlay", str(LLM_OVERLAY)],
    "llm-kserve": [
        "k8s", "render", str(LLM_SPEC), "--overlay", str(LLM_OVERLAY), "--target", "kserve",
    ],
}  # fmt: skip
GIB = 2**30


@pytest.fixture(scope="module")
def llm_spec() -> Spec:
    return load_spec(LLM_SPEC)


@pytest.fixture(scope="module")
def llm_options() -> K8sOptions:
    return load_options(LLM_OVERLAY, {})


def _named(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in of_kind(objects, kind) if o["metadata"]["name"] == name]
    return found


VLLM = """name: chat
versions:
  - {name: v1, model: chat:v1}
resources: {gpu: 1}
llm: {engine: vllm}
"""


def _pod(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    pod: dict[str, Any] = _named(objects, "Deployment", name)["spec"]["template"]["spec"]
    return pod


def test_a_vllm_pod_serves_the_base_and_its_adapters_over_its_gpus(
    llm_spec: Spec, llm_options: K8sOptions
) -> None:
    objects = render(llm_spec, llm_options)
    # Adapter versions have no workload of their own: one pod serves base and adapters.
    assert [o["metadata"]["name"] for o in of_kind(objects, "Deployment")] == [
        "support-bot-base",
        "summarizer-v1",
    ]
    pod = _pod(objects, "support-bot-base")
    (vllm,) = pod["containers"]
    assert vllm["image"] == "vllm/vllm-openai:v0.12.0"
    assert vllm["command"] == ["vllm", "serve"]
    assert vllm["args"] == [
        "/models/base",
        "--host", "0.0.0.0", "--port", "8000",
        "--served-model-name", "support-bot", "support-bot-base",
        "--max-model-len", "8192",
        "--max-num-seqs", "64",
        "--dtype", "bfloat16",
        "--kv-cache-dtype", "auto",
        "--tensor-parallel-size", "2",  # resources.gpu
        "--enable-lora", "--max-loras", "2",
        "--lora-modules", "support-bot-tuned=/models/tuned",
        "support-bot-tuned-next=/models/tuned-next",
        "--enable-prefix-caching",  # engine_args, last
    ]  # fmt: skip
    assert vllm["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert vllm["resources"]["limits"]["nvidia.com/gpu"] == 2
    assert pod["nodeSelector"] == {
        "nvidia.com/gpu.present": "true",
        "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
    }
    assert pod["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    annotations = _named(objects, "Deployment", "support-bot-base")["metadata"]["annotations"]
    assert annotations["inferd.dev/adapters"] == (
        "support-bot-tuned=support-lora:v3, support-bot-tuned-next=support-lora:v4"
    )


def test_the_image_is_the_specs_and_a_shapeless_model_has_an_unbounded_volume(
    llm_spec: Spec, llm_options: K8sOptions
) -> None:
    objects = render(llm_spec, llm_options)
    pod = _pod(objects, "summarizer-v1")
    (vllm,) = pod["containers"]
    assert vllm["image"] == "registry.example.com/vllm/vllm-openai:v0.12.0-patched"
    assert "--kv-cache-dtype" in vllm["args"]
    assert vllm["args"][vllm["args"].index("--kv-cache-dtype") + 1] == "fp8"
    assert "--max-model-len" not in vllm["args"]  # vLLM's default: the model's own
    assert "--enable-lora" not in vllm["args"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["models"] == {"name": "models", "emptyDir": {}}
    assert "ephemeral-storage" not in vllm["resources"].get("requests", {})
    note = _named(objects, "Deployment", "summarizer-v1")["metadata"]["annotations"][
        "inferd.dev/not-rendered"
    ]
    assert "llm.shape is not set" in note


def test_the_model_volume_is_sized_from_the_shape(llm_spec: Spec, llm_options: K8sOptions) -> None:
    pod = _pod(render(llm_spec, llm_options), "support-bot-base")
    volumes = {v["name"]: v for v in pod["volumes"]}
    # 8,030,261,248 parameters x 16 bits / 8 = 16,060,522,496 B = 14.957 GiB; two adapters at
    # 1 GiB each: 16.957 GiB; x 1.10 headroom = 18.65 GiB, rounded up: 19 GiB.
    assert volumes["models"]["emptyDir"] == {"sizeLimit": "19Gi"}
    # The pull's download cache holds the same bytes, in a volume vLLM does not mount.
    assert volumes["store"]["emptyDir"] == {"sizeLimit": "19Gi"}
    assert volumes["shm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "2Gi"}
    (vllm,) = pod["containers"]
    assert vllm["resources"]["requests"]["ephemeral-storage"] == "38Gi"
    mounts = {m["name"]: m for m in vllm["volumeMounts"]}
    assert mounts["models"] == {"name": "models", "mountPath": "/models", "readOnly": True}
    assert "store" not in mounts
    # Int4 weights, no adapters: 8,030,261,248 x 4 / 8 = 4,015,130,624 B = 3.74 GiB, x 1.10 =
    # 4.11 GiB, rounded up: 5 GiB.
    spec = one_deployment(
        VLLM.replace(
            "llm: {engine: vllm}",
            "llm: {engine: vllm, shape: {parameters: 8030261248, layers: 32, kv_heads: 8, "
            "head_dim: 128, weight_bits: 4}}",
        )
    )
    pod = _pod(render(spec, K8sOptions(registry="r.example.com")), "chat-v1")
    assert {v["name"]: v for v in pod["volumes"]}["models"]["emptyDir"] == {"sizeLimit": "5Gi"}


def test_init_containers_pull_the_base_and_each_adapter_from_the_registry(
    llm_spec: Spec, llm_options: K8sOptions
) -> None:
    pod = _pod(render(llm_spec, llm_options), "support-bot-base")
    inits = pod["initContainers"]
    assert [i["name"] for i in inits] == [
        "fetch-base",
        "fetch-adapter-tuned",
        "fetch-adapter-tuned-next",
    ]
    assert [i["args"] for i in inits] == [
        ["pull", "registry.example.com/llm/llama-3.1-8b-instruct:v1", "/models/base", "--quiet"],
        ["pull", "registry.example.com/llm/support-lora:v3", "/models/tuned", "--quiet"],
        ["pull", "registry.example.com/llm/support-lora:v4", "/models/tuned-next", "--quiet"],
    ]
    for init in inits:
        assert init["image"] == "inferd/inferd:" + init["image"].split(":", 1)[1]
        assert init["env"] == [{"name": "INFERD_HOME", "value": "/var/lib/inferd"}]
        assert init["securityContext"]["readOnlyRootFilesystem"] is True


def test_probes_wait_for_a_long_load_and_never_kill_a_loading_pod(
    llm_spec: Spec, llm_options: K8sOptions
) -> None:
    objects = render(llm_spec, llm_options)
    deployment = _named(objects, "Deployment", "support-bot-base")
    (vllm,) = deployment["spec"]["template"]["spec"]["containers"]
    startup = vllm["startupProbe"]
    assert startup["httpGet"] == {"path": "/health", "port": "http"}
    allowance = startup["periodSeconds"] * startup["failureThreshold"]
    assert 30 * 60 <= allowance <= 60 * 60
    assert vllm["readinessProbe"]["httpGet"]["path"] == "/health"
    assert vllm["livenessProbe"]["httpGet"]["path"] == "/health"
    # A rollout is not declared failed while its new pod may still be loading.
    assert deployment["spec"]["progressDeadlineSeconds"] > allowance
    # preStop 5 s + drain_timeout 60 s + 5 s
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 70


def test_the_route_sends_the_deployment_to_the_base_and_names_the_adapter_split(
    llm_spec: Spec, llm_options: K8sOptions
) -> None:
    result = cli(*GOLDEN_CASES["llm-plain"])
    assert result.exit_code == 0, result.output
    assert "traffic.weights of adapter versions: tuned 70%" in result.stderr
    objects = render(llm_spec, llm_options)
    route = _named(objects, "HTTPRoute", "support-bot")
    *versions, split = route["spec"]["rules"]
    assert [r["matches"][0]["path"]["value"] for r in versions] == [
        "/openai/support-bot/versions/base",
        "/openai/support-bot/versions/tuned",
        "/openai/support-bot/versions/tuned-next",
    ]
    assert {r["backendRefs"][0]["name"] for r in versions} == {"support-bot-base"}
    assert split["matches"] == [{"path": {"type": "PathPrefix", "value": "/openai/support-bot"}}]
    # base 20 + its adapters 70 + 10: every request reaches the base's pods.
    assert split["backendRefs"] == [{"name": "support-bot-base", "port": 8080, "weight": 100}]
    assert split["filters"][0]["urlRewrite"]["path"]["replacePrefixMatch"] == "/"


def test_two_base_versions_split_by_weight_and_mirror_a_base_shadow() -> None:
    spec = one_deployment(
        """name: chat
versions:
  - {name: v1, model: chat:v1}
  - {name: v2, model: chat:v2}
  - {name: v3, model: chat:v3, replicas: 1}
  - {name: lora, model: chat-lora:v1, adapter_of: v2}
traffic: {weights: {v1: 80, v2: 10, lora: 10}, shadow: v3}
resources: {gpu: 1}
llm: {engine: vllm}
"""
    )
    objects = render(spec, K8sOptions(registry="r.example.com"))
    split = _named(objects, "HTTPRoute", "chat")["spec"]["rules"][-1]
    assert split["backendRefs"] == [
        {"name": "chat-v1", "port": 8080, "weight": 80},
        {"name": "chat-v2", "port": 8080, "weight": 20},
    ]
    assert split["filters"][1] == {
        "type": "RequestMirror",
        "requestMirror": {"backendRef": {"name": "chat-v3", "port": 8080}},
    }
    assert "--lora-modules" not in _pod(objects, "chat-v1")["containers"][0]["args"]
    assert "chat-lora=/models/lora" in _pod(objects, "chat-v2")["containers"][0]["args"]
    for obj in objects:
        validate(obj)


def test_keda_scales_on_vllms_waiting_requests_or_kv_cache(
    llm_spec: Spec, llm_options: K8sOptions
) -> None:
    objects = render(llm_spec, llm_options)
    (scaled,) = of_kind(objects, "ScaledObject")
    assert scaled["spec"]["scaleTargetRef"]["name"] == "support-bot-base"
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["metricType"] == "AverageValue"
    assert trigger["metadata"]["query"] == (
        'sum(vllm:num_requests_waiting{namespace="ml",service="support-bot-base"})'
    )
    assert trigger["metadata"]["threshold"] == "4"
    kv = one_deployment(
        VLLM + "autoscaling: {metric: kv_cache_usage, target: 0.7, max_replicas: 3}\n"
    )
    (scaled,) = of_kind(render(kv, K8sOptions(registry="r.example.com")), "ScaledObject")
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["metadata"]["query"] == 'sum(vllm:kv_cache_usage_perc{service="chat-v1"})'
    assert trigger["metadata"]["threshold"] == "0.7"
    ttft = one_deployment(VLLM + "autoscaling: {metric: ttft_p95, target: 0.5}\n")
    (scaled,) = of_kind(render(ttft, K8sOptions(registry="r.example.com")), "ScaledObject")
    assert scaled["spec"]["triggers"][0]["metricType"] == "Value"
    assert (
        "vllm:time_to_first_token_seconds_bucket"
        in scaled["spec"]["triggers"][0]["metadata"]["query"]
    )


def test_what_vllm_cannot_scale_on_is_refused() -> None:
    tokens = one_deployment(VLLM + "autoscaling: {metric: tokens_in_flight, target: 4096}\n")
    with pytest.raises(InvalidArgument, match="not exported by vLLM"):
        render(tokens, K8sOptions(registry="r.example.com"))
    waiting = one_deployment(VLLM + "autoscaling: {metric: requests_waiting, min_replicas: 1}\n")
    with pytest.raises(InvalidArgument, match="scale with KEDA"):
        render(waiting, K8sOptions(registry="r.example.com", autoscaler="hpa"))


def test_the_stack_servicemonitor_scrapes_the_vllm_pods(
    llm_spec: Spec, llm_options: K8sOptions
) -> None:
    objects = render(llm_spec, llm_options)
    (monitor,) = of_kind(objects, "ServiceMonitor")
    service = _named(objects, "Service", "support-bot-base")
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("http", "/metrics")
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP",
         "appProtocol": "http"}
    ]  # fmt: skip


def test_kserve_renders_the_hugging_face_runtime_on_vllm(
    llm_spec: Spec, llm_options: K8sOptions
) -> None:
    objects = render(llm_spec, llm_options.model_copy(update={"target": "kserve"}))
    # No inferd ServingRuntime: KServe's own Hugging Face runtime serves these.
    assert [o["kind"] for o in objects] == ["InferenceService", "InferenceService"]
    isvc = _named(objects, "InferenceService", "support-bot")
    predictor = isvc["spec"]["predictor"]
    model = predictor["model"]
    assert model["modelFormat"] == {"name": "huggingface"}
    assert model["storageUri"] == "oci://registry.example.com/llm/llama-3.1-8b-instruct:v1"
    assert model["args"] == [
        "--backend=vllm",
        "--max-model-len=8192",
        "--max-num-seqs=64",
        "--dtype=bfloat16",
        "--kv-cache-dtype=auto",
        "--tensor-parallel-size=2",
        "--enable-prefix-caching",
    ]
    assert model["resources"]["limits"]["nvidia.com/gpu"] == 2
    assert predictor["nodeSelector"]["nvidia.com/gpu.product"] == "NVIDIA-H100-80GB-HBM3"
    assert "canaryTrafficPercent" not in predictor
    omitted = isvc["metadata"]["annotations"]["inferd.dev/not-rendered"]
    assert "adapter version 'tuned' (LoRA over base)" in omitted
    assert "adapter version 'tuned-next'" in omitted


def test_a_mixed_stack_on_kserve_keeps_inferds_runtime_for_its_own_pods() -> None:
    spec = parse_spec(
        "apiVersion: inferd.dev/v1\nkind: Stack\ndeployments:\n"
        "  - {name: fraud, versions: [{name: v1, model: 'fraud:v1'}]}\n"
        "  - {name: chat, versions: [{name: v1, model: 'chat:v1'}], resources: {gpu: 1},"
        " llm: {engine: vllm}}\n"
    )
    objects = render(spec, K8sOptions(registry="r.example.com", target="kserve"))
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("ServingRuntime", "inferd"),
        ("InferenceService", "fraud"),
        ("InferenceService", "chat"),
    ]
    for obj in objects:
        validate(obj)


def test_llama_server_has_no_kubernetes_rendering() -> None:
    spec = one_deployment(VLLM.replace("engine: vllm", "engine: llama-server"))
    with pytest.raises(InvalidArgument, match="'llama-server' has no Kubernetes rendering"):
        render(spec, K8sOptions(registry="r.example.com"))


def test_tensor_parallelism_over_mig_slices_is_refused() -> None:
    spec = one_deployment(VLLM.replace("resources: {gpu: 1}", "resources: {gpu: 2}"))
    options = K8sOptions(registry="r.example.com", placement={"mig_profile": "3g.40gb"})
    with pytest.raises(InvalidArgument, match="not over 2 MIG slices"):
        render(spec, options)


def test_an_inferd_engine_llm_gets_its_slots_and_context_as_the_server_reads_them() -> None:
    spec = one_deployment(
        """name: tiny
versions:
  - {name: v1, model: tiny:v1}
llm: {engine: inferd, max_num_seqs: 4, max_model_len: 2048}
"""
    )
    (deployment, *_) = render(spec, K8sOptions(registry="r.example.com"))
    (server,) = deployment["spec"]["template"]["spec"]["containers"]
    assert server["args"][0] == "serve"  # inferd's own pod
    env = {e["name"]: e["value"] for e in server["env"]}
    served = load_settings(ServerSettings, environ=env)
    assert (served.llm.max_num_seqs, served.llm.max_model_len) == (4, 2048)


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_llm_render_matches_golden_and_validates(case: str) -> None:
    """``INFERD_UPDATE_GOLDEN=1`` rewrites the golden file, as in test_golden.py."""
    result = cli(*GOLDEN_CASES[case])
    assert result.exit_code == 0, result.output
    path = GOLDEN / f"{case}.yaml"
    if os.environ.get("INFERD_UPDATE_GOLDEN") == "1":
        path.write_text(result.stdout, encoding="utf-8")
    assert result.stdout == path.read_text(encoding="utf-8"), f"{case} differs from {path.name}"
    objects = list(yaml.safe_load_all(result.stdout))
    assert objects
    for obj in objects:
        validate(obj)


def test_the_keda_queries_compute_per_version_sums_in_prometheus(
    promtool: str, tmp_path: Path
) -> None:
    """Each vLLM query evaluated by promtool (Prometheus' own engine) over vLLM-named series of
    two pods of the version and one pod of another Service, which must not count."""
    mine, other = 'service="chat-v1"', 'service="other"'
    series = [
        (f'vllm:num_requests_waiting{{{mine},pod="a"}}', "3x10"),
        (f'vllm:num_requests_waiting{{{mine},pod="b"}}', "1x10"),
        (f'vllm:num_requests_waiting{{{other},pod="c"}}', "50x10"),
        (f'vllm:num_requests_running{{{mine},pod="a"}}', "2x10"),
        (f'vllm:num_requests_running{{{mine},pod="b"}}', "2x10"),
        (f'vllm:kv_cache_usage_perc{{{mine},pod="a"}}', "0.5x10"),
        (f'vllm:kv_cache_usage_perc{{{mine},pod="b"}}', "0.25x10"),
        (f'vllm:request_success_total{{{mine},pod="a",finished_reason="stop"}}', "0+60x10"),
        (f'vllm:request_success_total{{{mine},pod="b",finished_reason="length"}}', "0+120x10"),
        (f'vllm:time_to_first_token_seconds_bucket{{{mine},pod="a",le="0.1"}}', "0+10x10"),
        (f'vllm:time_to_first_token_seconds_bucket{{{mine},pod="a",le="1"}}', "0+100x10"),
        (f'vllm:time_to_first_token_seconds_bucket{{{mine},pod="a",le="+Inf"}}', "0+100x10"),
    ]
    expected = {
        "requests_waiting": 4,
        "kv_cache_usage": 0.75,
        "concurrency": 8,  # running 2 + 2, waiting 3 + 1
        "rps": 3,  # 60 and 120 a minute
        # 95 of 100 per minute: (95 - 10) / 90 of the way through the 0.1-1 s bucket
        "ttft_p95": 0.95,
    }
    queries = {vllm_query(metric, "chat-v1", None): v for metric, v in expected.items()}
    promql_at_5m(promtool, tmp_path, series, queries)
