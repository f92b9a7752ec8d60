"""vLLM on Kubernetes: a deployment with ``llm.engine: vllm`` rendered as ``vllm serve`` pods.

One pod serves a base version and every version that is its LoRA adapter (``adapter_of``):
vLLM loads the base once and applies adapters per request, chosen by the request's ``model``
field. So only base versions get a Deployment, Service, PodDisruptionBudget and autoscaler;
an adapter version is a ``--lora-modules`` entry on its base's pod, whose init containers
fetch it beside the base.

The pod:

- **image** ``llm.image``, else :data:`DEFAULT_IMAGE` (pinned, never ``latest``);
- **model files** fetched before vLLM starts by init containers of the inferd image:
  ``inferd pull REMOTE /models/{version}`` per version (the base, then each adapter), every blob
  verified against its digest. The pull's download cache (the ``store`` volume) is separate
  from the files vLLM reads (the ``models`` volume), so vLLM sees a plain Hugging Face
  directory per version and nothing else;
- **volume sizes** from ``llm.shape`` (:func:`.vllm_serve.volume_bytes`); without a shape
  nothing says how large the model is, so the volumes get no ``sizeLimit`` and the
  Deployment's not-rendered annotation says why;
- ``vllm serve`` (:func:`.vllm_serve.vllm_args`) with the spec's ``max_model_len``,
  ``max_num_seqs``, ``dtype``, ``kv_cache_dtype``, ``--trust-remote-code`` for a base version
  with ``trust_code``, tensor parallelism over the pod's GPUs, the adapters, and ``engine_args``
  last (so they win); what vLLM has no flag for (``request_timeout``) is named in the
  Deployment's not-rendered annotation (:func:`.vllm_serve.unrendered`; the spec refuses
  ``batching``, ``runtime.threads`` and ``llm.max_waiting_seqs`` for it: vLLM queues without a
  bound);
- **probes** on vLLM's ``/health``: ``vllm serve`` opens its port only once the weights are on
  the GPU (and, by default, CUDA graphs are captured), which for a 70B model over tensor
  parallelism takes minutes; the startup probe allows :data:`STARTUP_ALLOWANCE_S` before the
  kubelet gives up, and liveness starts only after it, so a loading pod is never killed;
- **drain**: ``vllm serve`` sent SIGTERM aborts the requests it runs (the default image has no
  drain; later releases drain only with ``--shutdown-timeout``, off by default), so the preStop
  hook (:data:`DRAIN_SCRIPT`) sleeps while the endpoints drop the pod, as inferd's pods do, then
  waits until vLLM's ``/metrics`` counts no running or waiting request, up to
  ``gateway.drain_timeout``, within the same grace period as inferd's pods;
- the same GPU placement, hardening and labels as inferd's own pods. vLLM's
  caches (torch.compile, Triton) go under ``HOME=/tmp`` (an emptyDir), since the root
  filesystem is read-only; ``/dev/shm`` is a memory-backed emptyDir for tensor-parallel workers.

The Service exposes vLLM's port as ``http`` on 8080, like every inferd Service, so the stack's
ServiceMonitor scrapes vLLM's ``/metrics`` with no monitor of its own, and the autoscaler reads
vLLM's series (:func:`query`).
"""

from __future__ import annotations

import math

from inferd.deploy import autoscaling
from inferd.deploy.gpu import GpuPod
from inferd.deploy.k8s_options import K8sOptions
from inferd.deploy.llm_memory import GIB
from inferd.deploy.objects import (
    STORE_PATH,
    Obj,
    labels,
    metadata,
    note,
    obj,
    remote_reference,
    workload_name,
)
from inferd.deploy.pull_secret import add_credentials
from inferd.deploy.services import service
from inferd.deploy.vllm_serve import (
    MODELS_PATH,
    VLLM_PORT,
    adapters,
    bases,
    llm_of,
    lora_name,
    model_dir,
    unrendered,
    untrusted_adapters,
    vllm_args,
    volume_bytes,
)
from inferd.deploy.workloads import (
    PRE_STOP_DELAY_S,
    PROGRESS_DEADLINE_S,
    autoscaled,
    container_security,
    deployment_spec,
    disruption_budget,
    grace_period_s,
    pod_security,
    resources,
)
from inferd.errors import InvalidArgument
from inferd.spec.model import DeploymentSpec, Spec, VersionSpec

#: vLLM's OpenAI-compatible server image (Docker Hub ``vllm/vllm-openai``), pinned to a release.
DEFAULT_IMAGE = "vllm/vllm-openai:v0.12.0"
HEALTH_PATH = "/health"
#: Startup probe: every 10 s, 180 failures = 30 minutes for vLLM to load the weights onto the
#: GPUs, profile memory and capture CUDA graphs before its port opens (a 70B model over 4-8
#: GPUs takes several minutes from local disk; the margin covers slow disks and compilation).
STARTUP_PERIOD_S = 10
STARTUP_FAILURES = 180
STARTUP_ALLOWANCE_S = STARTUP_PERIOD_S * STARTUP_FAILURES
#: Memory-backed /dev/shm for PyTorch's inter-process tensors (tensor parallelism).
SHM_SIZE = "2Gi"

#: The spec's autoscaling metrics as PromQL over vLLM's own series (docs.vllm.ai, "Production
#: Metrics": ``vllm:num_requests_running``, ``vllm:num_requests_waiting``,
#: ``vllm:kv_cache_usage_perc`` (0-1; ``vllm:gpu_cache_usage_perc`` before v0.10),
#: ``vllm:request_success_total``, ``vllm:time_to_first_token_seconds``,
#: ``vllm:e2e_request_latency_seconds``). ``{m}`` is the version's Service matcher.
_QUERIES = {
    "requests_waiting": "sum(vllm:num_requests_waiting{{{m}}})",
    "queue_depth": "sum(vllm:num_requests_waiting{{{m}}})",
    "kv_cache_usage": "sum(vllm:kv_cache_usage_perc{{{m}}})",
    "concurrency": "sum(vllm:num_requests_running{{{m}}}) + sum(vllm:num_requests_waiting{{{m}}})",
    "rps": "sum(rate(vllm:request_success_total{{{m}}}[1m]))",
    "ttft_p95": "histogram_quantile(0.95, sum by (le) "
    "(rate(vllm:time_to_first_token_seconds_bucket{{{m}}}[1m])))",
    "latency_p95": "histogram_quantile(0.95, sum by (le) "
    "(rate(vllm:e2e_request_latency_seconds_bucket{{{m}}}[1m])))",
}
#: The preStop hook, run by the image's ``python3`` (vLLM is a Python application) with the
#: metrics URL, the delay and the drain timeout (s): it returns once vLLM's own gauges sum to no
#: request, at the drain timeout, or at once if vLLM does not answer (nothing left to drain).
DRAIN_SCRIPT = """import sys, time, urllib.request
url, delay, drain = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
time.sleep(delay)
end = time.monotonic() + drain
direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # the pod's own vLLM
names = ("vllm:num_requests_running", "vllm:num_requests_waiting")
while time.monotonic() < end:
    try:
        with direct.open(url, timeout=2) as answer:
            text = answer.read().decode()
    except OSError:
        break
    busy = 0.0
    for line in text.splitlines():
        if line.split("{", 1)[0].split(" ", 1)[0] in names:
            busy += float(line.rsplit(" ", 1)[1])
    if not busy:
        break
    time.sleep(1)
"""
_PERCENTILES = frozenset({"ttft_p95", "latency_p95"})


def _gib(size: int) -> str:
    return f"{size // GIB}Gi"


def _fetch(version: VersionSpec, options: K8sOptions, role: str) -> Obj:
    """The init container that writes one version's verified files into ``/models``."""
    return {
        "name": f"fetch-{role}",
        "image": options.image,
        "args": ["pull", str(remote_reference(version, options)), model_dir(version), "--quiet"],
        "env": [{"name": "INFERD_HOME", "value": STORE_PATH}],
        "securityContext": container_security(),
        "volumeMounts": [
            {"name": "store", "mountPath": STORE_PATH},
            {"name": "models", "mountPath": MODELS_PATH},
        ],
    }


def _probe(*, period: int, timeout: int, failures: int) -> Obj:
    return {
        "httpGet": {"path": HEALTH_PATH, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


def _pre_stop(spec: Spec) -> Obj:
    """Wait for vLLM to finish its requests before the kubelet's SIGTERM (:data:`DRAIN_SCRIPT`)."""
    url = f"http://127.0.0.1:{VLLM_PORT}/metrics"
    drain = str(math.ceil(spec.gateway.drain_timeout))
    command = ["python3", "-c", DRAIN_SCRIPT, url, str(PRE_STOP_DELAY_S), drain]
    return {"exec": {"command": command}}


def _container(
    deployment: DeploymentSpec, base: VersionSpec, spec: Spec, gpu: GpuPod, size: int | None
) -> Obj:
    llm = llm_of(deployment)
    limits = resources(deployment, gpu)
    if size is not None:
        # The files and the pull's cache of them: ask for a node with that much local disk.
        limits.setdefault("requests", {})["ephemeral-storage"] = _gib(2 * size)
    env = {
        "HOME": "/tmp",  # noqa: S108 - a private emptyDir: vLLM's torch.compile and Triton caches
        "HF_HUB_OFFLINE": "1",  # the files are local; never reach the Hugging Face Hub
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
    }
    return {
        "name": "vllm",
        "image": llm.image or DEFAULT_IMAGE,
        "command": ["vllm", "serve"],
        "args": vllm_args(deployment, base, gpu),
        "env": [{"name": k, "value": v} for k, v in env.items()],
        "ports": [{"name": "http", "containerPort": VLLM_PORT, "protocol": "TCP"}],
        "resources": limits,
        "startupProbe": _probe(period=STARTUP_PERIOD_S, timeout=5, failures=STARTUP_FAILURES),
        "readinessProbe": _probe(period=5, timeout=5, failures=3),
        "livenessProbe": _probe(period=15, timeout=10, failures=4),
        "lifecycle": {"preStop": _pre_stop(spec)},
        "securityContext": container_security(),
        "volumeMounts": [
            {"name": "models", "mountPath": MODELS_PATH, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - a private emptyDir
            {"name": "shm", "mountPath": "/dev/shm"},  # noqa: S108 - a private emptyDir
        ],
    }


def _volumes(size: int | None) -> list[Obj]:
    files: Obj = {} if size is None else {"sizeLimit": _gib(size)}
    return [
        {"name": "store", "emptyDir": dict(files)},
        {"name": "models", "emptyDir": dict(files)},
        {"name": "tmp", "emptyDir": {}},
        {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": SHM_SIZE}},
    ]


def deployment_object(
    deployment: DeploymentSpec, base: VersionSpec, spec: Spec, options: K8sOptions, gpu: GpuPod
) -> Obj:
    """The Deployment of one base version and its adapters."""
    size = volume_bytes(deployment, base)
    loras = adapters(deployment, base)
    pod: Obj = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": pod_security(),
        "terminationGracePeriodSeconds": grace_period_s(spec),
        "initContainers": [
            _fetch(base, options, "base"),
            *(_fetch(a, options, f"adapter-{a.name}") for a in loras),
        ],
        "containers": [_container(deployment, base, spec, gpu, size)],
        "volumes": _volumes(size),
    }
    pod.update(gpu.pod_fields())
    add_credentials(
        pod, options, {str(remote_reference(v, options).registry) for v in [base, *loras]}
    )
    name = workload_name(deployment, base)
    pod_labels = labels(spec, deployment.name, base.name, model=base.model)
    body = deployment_spec(
        deployment,
        base,
        spec,
        {"metadata": {"labels": dict(pod_labels)}, "spec": pod},
        # A rollout waits for at least one pod's whole startup allowance.
        progress_deadline_s=max(PROGRESS_DEADLINE_S, STARTUP_ALLOWANCE_S + 300),
    )
    meta = metadata(name, options, pod_labels)
    meta["annotations"] = {"inferd.dev/model": base.model, "inferd.dev/engine": "vllm"}
    if loras:
        meta["annotations"]["inferd.dev/adapters"] = ", ".join(
            f"{lora_name(deployment, a)}={a.model}" for a in loras
        )
    out = obj("apps/v1", "Deployment", meta, body)
    if size is None:
        note(
            out,
            "sizeLimit of the models volume: llm.shape is not set, so the model's size is "
            "unknown (set llm.shape.parameters and weight_bits to bound the volume)",
        )
    if options.model_delivery == "image-volume":
        note(out, "model_delivery image-volume: vLLM pods fetch their files with inferd pull")
    return note(out, *unrendered(deployment), *untrusted_adapters(deployment, base))


def query(metric: str, service_name: str, namespace: str | None) -> str:
    """PromQL for ``metric`` over one base version's vLLM pods; InvalidArgument for a metric
    vLLM does not export."""
    matchers = f'service="{service_name}"'
    if namespace is not None:
        matchers = f'namespace="{namespace}",{matchers}'
    template = _QUERIES.get(metric)
    if template is None:
        raise InvalidArgument(
            f"autoscaling.metric {metric!r} is not exported by vLLM (it reports requests "
            "running and waiting, not the tokens they reserve): scale a vLLM deployment on "
            "requests_waiting or kv_cache_usage"
        )
    return template.format(m=matchers)


def scaled_object(
    deployment: DeploymentSpec, base: VersionSpec, spec: Spec, options: K8sOptions
) -> Obj:
    """KEDA's ScaledObject of one base version, on vLLM's series."""
    if options.autoscaler != "keda":
        raise InvalidArgument(
            f"deployment {deployment.name!r}: vLLM deployments scale with KEDA (--autoscaler "
            "keda), which queries vLLM's series in Prometheus; an HPA would need custom-metrics "
            "adapter rules for them"
        )
    scaled = autoscaling.scaled_object(deployment, base, spec, options)
    scaling = deployment.autoscaling
    metric = scaling.metric if scaling is not None else "requests_waiting"
    (trigger,) = scaled["spec"]["triggers"]
    trigger["metricType"] = "Value" if metric in _PERCENTILES else "AverageValue"
    trigger["metadata"]["query"] = query(metric, workload_name(deployment, base), options.namespace)
    return scaled


def objects(deployment: DeploymentSpec, spec: Spec, options: K8sOptions, gpu: GpuPod) -> list[Obj]:
    """Per base version: Deployment, Service, PodDisruptionBudget and, when it autoscales, its
    ScaledObject (the route is :mod:`.llm_route`'s)."""
    out: list[Obj] = []
    for base in bases(deployment):
        out += [
            deployment_object(deployment, base, spec, options, gpu),
            service(deployment, base, spec, options, grpc=False),
            disruption_budget(deployment, base, spec, options),
        ]
        if autoscaled(deployment, base):
            out.append(scaled_object(deployment, base, spec, options))
    return out
