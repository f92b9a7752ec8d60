"""Workloads: a Deployment per version and a PodDisruptionBudget beside it.

The pod is built for slow model loads and clean drains, the way the server behaves:

- the server binds its listeners before it loads models, so ``/v2/health/live`` answers at
  once; the startup probe waits only for that, readiness (``/v2/health/ready``) gates traffic
  until every model is loaded and warm, and liveness never kills a pod that is still loading;
- on SIGTERM the server turns unready and drains in-flight requests for up to the spec's
  ``gateway.drain_timeout``; a ``preStop`` sleep first lets endpoints controllers and load
  balancers stop sending new requests, and ``terminationGracePeriodSeconds`` covers both;
- rolling updates never take a ready pod away before its replacement is ready
  (``maxUnavailable: 0``);
- non-root, read-only root filesystem, no capabilities, no service-account token: the model
  store is an ``emptyDir`` (the only writable place besides ``/tmp``).

Model files reach the store in one of two ways. ``init``: an init container runs
``inferd tag REMOTE LOCAL``, which downloads the version (verified against its digests) into
the pod's store and tags it locally, so the server itself needs no registry access.
``image-volume``: the kubelet mounts the model's OCI artifact read-only (Kubernetes >= 1.31 with
the ImageVolume feature) and an init container imports those files with ``inferd push``.
"""

from __future__ import annotations

import math
import re

from inferd.config import BatchingSettings
from inferd.deploy.gpu import GpuPod
from inferd.deploy.k8s_options import K8sOptions
from inferd.deploy.objects import (
    ARTIFACT_PATH,
    ARTIFACT_PATH_BASE,
    GRPC_PORT,
    HTTP_PORT,
    STORE_PATH,
    Obj,
    labels,
    local_reference,
    metadata,
    note,
    obj,
    remote_reference,
    selector_labels,
    workload_name,
)
from inferd.deploy.pull_secret import add_credentials
from inferd.settings_file import ENV_PREFIX
from inferd.spec.model import DeploymentSpec, Spec, VersionSpec

#: Seconds the pod keeps serving after SIGTERM is decided, before the server is signalled.
PRE_STOP_DELAY_S = 5
#: Slack on top of preStop + drain before the kubelet sends SIGKILL.
GRACE_MARGIN_S = 5
#: A Deployment that makes no progress for this long is reported failed (slow loads included).
PROGRESS_DEADLINE_S = 900
UID = 10001

HEALTH_LIVE = "/v2/health/live"
HEALTH_READY = "/v2/health/ready"


def server_container(
    deployment: DeploymentSpec, version: VersionSpec, spec: Spec, options: K8sOptions, gpu: GpuPod
) -> Obj:
    """The ``inferd serve`` container of one version."""
    return {
        "name": "server",
        "image": options.image_for(gpu.gpus),
        "args": server_args(local_reference(version, options), trust_code=version.trust_code),
        "env": server_env(deployment, spec, gpu, served_name(version, options)),
        "ports": [
            {"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"},
            {"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"},
        ],
        "resources": resources(deployment, gpu),
        "startupProbe": _probe(HEALTH_LIVE, period=2, timeout=2, failures=60),
        "readinessProbe": _probe(HEALTH_READY, period=5, timeout=2, failures=2),
        "livenessProbe": _probe(HEALTH_LIVE, period=10, timeout=5, failures=3),
        "lifecycle": {"preStop": {"sleep": {"seconds": PRE_STOP_DELAY_S}}},
        "securityContext": container_security(),
        "volumeMounts": [
            {"name": "store", "mountPath": STORE_PATH},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - a private emptyDir
        ],
    }


def server_args(reference: str, *, trust_code: bool = False) -> list[str]:
    """``inferd serve`` on every interface of the pod (its address is its own); a version whose
    spec sets ``trust_code`` gets ``--trust-code`` on its own reference, as under ``inferd up``
    (without it the server refuses to run the model's code, and the pod never gets ready)."""
    listen = ["--host", "0.0.0.0", "--port", str(HTTP_PORT), "--grpc-port", str(GRPC_PORT)]  # noqa: S104
    trust = ["--trust-code", reference] if trust_code else []
    return ["serve", reference, *listen, *trust]


def device(deployment: DeploymentSpec) -> str:
    """The server's device: the spec's, except that a GPU deployment which left ``device`` at
    its CPU default gets ``auto`` (CUDA when the pod has it, else CPU)."""
    runtime = deployment.runtime
    if deployment.resources.gpu > 0 and "device" not in runtime.model_fields_set:
        return "auto"
    return runtime.device


def served_name(version: VersionSpec, options: K8sOptions) -> str:
    """The model name a version's pod serves (its local tag's name)."""
    return local_reference(version, options).rpartition(":")[0]


def generation_timeout_env(deployment: DeploymentSpec, model: str) -> tuple[str, str] | None:
    """A language model's ``request_timeout`` as the variable that bounds its generations
    (``models.{model}.request_timeout_s``, as ``inferd up`` writes it: the server-wide timeout
    does not bound them); None without one, or for a name no variable can carry."""
    if deployment.llm is None or deployment.request_timeout is None or not _env_safe(model):
        return None
    name = f"{ENV_PREFIX}MODELS__{model.upper()}__REQUEST_TIMEOUT_S"
    return name, _number(deployment.request_timeout)


def generation_timeout_note(deployment: DeploymentSpec, model: str) -> list[str]:
    """The not-rendered note for a language model's ``request_timeout`` that no variable can
    carry (a name with '/', which Kubernetes before 1.32 refuses in a variable's name)."""
    if deployment.llm is None or deployment.request_timeout is None or _env_safe(model):
        return []
    return [
        f"request_timeout ({deployment.request_timeout:g} s) of the generations of {model!r}: "
        "the server bounds them per model name, which no environment variable can carry with "
        "a '/' on Kubernetes before 1.32 (a registry without a path gives a name without one)"
    ]


def _env_safe(model: str) -> bool:
    """Whether ``INFERD_MODELS__{MODEL}__…`` names ``model`` alone and is a variable name
    every Kubernetes accepts (letters, digits, '-', '.' and '_')."""
    return "__" not in model and re.fullmatch(r"[a-z0-9][-._a-z0-9]*", model) is not None


def server_env(deployment: DeploymentSpec, spec: Spec, gpu: GpuPod, model: str) -> list[Obj]:
    """``INFERD_*`` settings of the server serving ``model`` (what ``inferd up`` puts in its
    settings file)."""
    values = {
        "INFERD_HOME": STORE_PATH,
        "INFERD_DEVICE": device(deployment),
        "INFERD_INTRA_OP_THREADS": str(deployment.runtime.threads),
        **batching_env(deployment.batching),
        "INFERD_DRAIN_TIMEOUT_S": _number(spec.gateway.drain_timeout),
        "INFERD_REQUEST_TIMEOUT_S": _number(
            deployment.request_timeout or spec.gateway.request_timeout
        ),
    }
    if deployment.llm is not None:  # engine inferd: the llamacpp runtime's slots and context
        values[f"{ENV_PREFIX}LLM__MAX_NUM_SEQS"] = str(deployment.llm.max_num_seqs)
        if deployment.llm.max_waiting_seqs is not None:
            values[f"{ENV_PREFIX}LLM__MAX_WAITING_SEQS"] = str(deployment.llm.max_waiting_seqs)
        if deployment.llm.max_model_len is not None:
            values[f"{ENV_PREFIX}LLM__MAX_MODEL_LEN"] = str(deployment.llm.max_model_len)
        generation = generation_timeout_env(deployment, model)
        if generation is not None:
            values[generation[0]] = generation[1]
    return [{"name": k, "value": v} for k, v in values.items()]


def batching_env(batching: BatchingSettings) -> dict[str, str]:
    """Every batching field as the ``INFERD_BATCHING__*`` variable the server reads.

    Built from the settings model itself, so a new batching field reaches pods as it reaches
    local replicas (which get ``model_dump()``), with no list to keep in step.
    """
    return {
        f"{ENV_PREFIX}BATCHING__{name.upper()}": _env_value(getattr(batching, name))
        for name in BatchingSettings.model_fields
    }


def _env_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _number(value)
    return str(value)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def resources(deployment: DeploymentSpec, gpu: GpuPod) -> Obj:
    """Requests from the spec; memory and GPUs also as limits (a CPU limit would only throttle
    latency, so there is none)."""
    spec = deployment.resources
    requests: dict[str, str | int] = {}
    limits: dict[str, str | int] = {}
    if spec.cpu is not None:
        requests["cpu"] = spec.cpu
    if spec.memory is not None:
        requests["memory"] = limits["memory"] = spec.memory
    for name, count in gpu.resources.items():
        limits[name] = count
    out: Obj = {}
    if limits:
        out["limits"] = limits
    if requests:
        out["requests"] = requests
    return out


def _probe(path: str, *, period: int, timeout: int, failures: int) -> Obj:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


def container_security() -> Obj:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }


def pod_security() -> Obj:
    return {
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": UID,
        "fsGroup": UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _delivery(
    deployment: DeploymentSpec, version: VersionSpec, options: K8sOptions, image: str
) -> tuple[list[Obj], list[Obj]]:
    """The init containers that fill the store, and the volumes they need beyond the store.

    An adapter version (``adapter_of``, a language model served by inferd) is loaded over its
    base, which the server reads from the same store: the base is fetched first.
    """
    base = None if version.adapter_of is None else deployment.version(version.adapter_of)
    inits: list[Obj] = []
    volumes: list[Obj] = []
    base_local = None
    if base is not None:
        init, volume = _fetch(
            base, options, image, ("fetch-base", "base-model", ARTIFACT_PATH_BASE)
        )
        inits.append(init)
        volumes += volume
        base_local = local_reference(base, options)
    init, volume = _fetch(
        version, options, image, ("fetch-model", "model", ARTIFACT_PATH), base_local
    )
    return [*inits, init], [*volumes, *volume]


def _fetch(
    version: VersionSpec,
    options: K8sOptions,
    image: str,
    names: tuple[str, str, str],
    base: str | None = None,
) -> tuple[Obj, list[Obj]]:
    """The init container that puts ``version`` in the store (an adapter over local ``base``
    once its files are pushed), and its image volume, if any; ``names``: the container's, the
    volume's and where it is mounted."""
    name, volume, path = names
    remote = remote_reference(version, options)
    local = local_reference(version, options)
    mounts: list[Obj] = [{"name": "store", "mountPath": STORE_PATH}]
    volumes: list[Obj] = []
    if options.model_delivery == "image-volume":
        args = ["push", path, local, *([] if base is None else ["--base", base]), "--quiet"]
        mounts.append({"name": volume, "mountPath": path, "readOnly": True})
        volumes.append(
            {"name": volume, "image": {"reference": str(remote), "pullPolicy": "IfNotPresent"}}
        )
    else:
        args = ["tag", str(remote), local]
    init = {
        "name": name,
        "image": image,
        "args": args,
        "env": [{"name": "INFERD_HOME", "value": STORE_PATH}],
        "securityContext": container_security(),
        "volumeMounts": mounts,
    }
    return init, volumes


def pod_template(
    deployment: DeploymentSpec, version: VersionSpec, spec: Spec, options: K8sOptions, gpu: GpuPod
) -> Obj:
    """The pod of one version."""
    server = server_container(deployment, version, spec, options, gpu)
    inits, extra_volumes = _delivery(deployment, version, options, server["image"])
    pod: Obj = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": pod_security(),
        "terminationGracePeriodSeconds": grace_period_s(spec),
        "initContainers": inits,
        "containers": [server],
        "volumes": [
            {"name": "store", "emptyDir": {}},
            {"name": "tmp", "emptyDir": {}},
            *extra_volumes,
        ],
    }
    pod.update(gpu.pod_fields())
    add_credentials(pod, options, {str(remote_reference(version, options).registry)})
    return {
        "metadata": {"labels": labels(spec, deployment.name, version.name, model=version.model)},
        "spec": pod,
    }


def grace_period_s(spec: Spec) -> int:
    """preStop delay + the server's drain timeout + a margin, in whole seconds."""
    return PRE_STOP_DELAY_S + math.ceil(spec.gateway.drain_timeout) + GRACE_MARGIN_S


def autoscaled(deployment: DeploymentSpec, version: VersionSpec) -> bool:
    """Whether an autoscaler owns this version's replica count (versions kept at 0 stay off)."""
    return deployment.autoscaling is not None and version.replicas > 0


def deployment_object(
    deployment: DeploymentSpec, version: VersionSpec, spec: Spec, options: K8sOptions, gpu: GpuPod
) -> Obj:
    """The Deployment of one version. An autoscaled version leaves ``replicas`` unset, so that
    ``kubectl apply`` never fights the autoscaler over it."""
    name = workload_name(deployment, version)
    body = deployment_spec(
        deployment, version, spec, pod_template(deployment, version, spec, options, gpu)
    )
    meta = metadata(name, options, labels(spec, deployment.name, version.name, model=version.model))
    meta["annotations"] = {"inferd.dev/model": version.model}
    deployed = obj("apps/v1", "Deployment", meta, body)
    return note(deployed, *generation_timeout_note(deployment, served_name(version, options)))


def deployment_spec(
    deployment: DeploymentSpec,
    version: VersionSpec,
    spec: Spec,
    template: Obj,
    *,
    progress_deadline_s: int = PROGRESS_DEADLINE_S,
) -> Obj:
    """The ``spec`` of one version's Deployment around its pod ``template``: ``replicas`` unless
    autoscaled, and rolling updates that never take a ready pod away first."""
    body: Obj = {}
    if not autoscaled(deployment, version):
        body["replicas"] = version.replicas
    body.update(
        {
            "selector": {"matchLabels": selector_labels(spec, deployment.name, version.name)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "progressDeadlineSeconds": progress_deadline_s,
            "revisionHistoryLimit": 5,
            "template": template,
        }
    )
    return body


def disruption_budget(
    deployment: DeploymentSpec, version: VersionSpec, spec: Spec, options: K8sOptions
) -> Obj:
    """At most one pod of the version voluntarily evicted at a time (node drains proceed even
    for a single replica, one pod after another)."""
    name = workload_name(deployment, version)
    body = {
        "maxUnavailable": 1,
        "selector": {"matchLabels": selector_labels(spec, deployment.name, version.name)},
    }
    meta = metadata(name, options, labels(spec, deployment.name, version.name, model=version.model))
    return obj("policy/v1", "PodDisruptionBudget", meta, body)
