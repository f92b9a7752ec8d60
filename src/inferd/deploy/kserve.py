"""The KServe target: a ServingRuntime for the inferd image and an InferenceService per deployment.

KServe brings its own rollout and scaling machinery (Knative revisions, or raw Deployments), so
this target maps the spec onto KServe's vocabulary instead of rendering Deployments:

- the **ServingRuntime** ``inferd`` (``inferd-gpu`` for the GPU image) declares the model
  formats inferd loads and protocol v2 (REST and gRPC). KServe delivers model files to
  ``/mnt/models`` (for an ``oci://`` storage URI, from the model's OCI artifact); the runtime
  imports them into its store with ``inferd push`` and serves them under the
  InferenceService's name;
- an **InferenceService** per deployment: ``storageUri`` is the version taking traffic as an
  ``oci://`` reference. With a canary (a second version with a weight, :mod:`.canary`) KServe
  keeps the previously rolled-out revision for the rest of the traffic, so the canary is two
  applies: ``--stage stable`` renders the main version alone, ``--stage canary`` (the default)
  the candidate's reference with ``canaryTrafficPercent`` = its weight. Replica bounds come
  from ``autoscaling`` (min 0 is scale-to-zero), else from the version's replicas.

What KServe has no field for — a shadow version, A/B header routes, sticky routing — is not
rendered and is named in the ``inferd.dev/not-rendered`` annotation (``inferd k8s render`` also
prints it); the plain target renders the first two.
"""

from __future__ import annotations

import math

from inferd.deploy.autoscaling import INFERD_UP_OWN
from inferd.deploy.canary import Canary, canary_of, policy_name
from inferd.deploy.gpu import GpuPod
from inferd.deploy.k8s_options import K8sOptions, Stage
from inferd.deploy.objects import (
    GRPC_PORT,
    HTTP_PORT,
    OMITTED_ANNOTATION,
    STORE_PATH,
    Obj,
    labels,
    metadata,
    obj,
    remote_reference,
)
from inferd.deploy.pull_secret import pull_secrets
from inferd.deploy.workloads import (
    HEALTH_READY,
    container_security,
    grace_period_s,
    resources,
    server_env,
)
from inferd.errors import InvalidArgument
from inferd.spec.model import DeploymentSpec, Spec, VersionSpec

RUNTIME_NAME = "inferd"
MODEL_FORMAT = "inferd"
#: Formats inferd's runtimes load, advertised so ``autoSelect`` can pick this runtime for them.
SUPPORTED_FORMATS = ("inferd", "onnx", "sklearn", "xgboost", "lightgbm")
#: Knative's revision timeout when KServe's ``timeout`` is unset (config-defaults'
#: ``revision-timeout-seconds``): each request's limit, and the pods' termination grace period.
KNATIVE_TIMEOUT_S = 300
#: Tag the imported files get in the pod's store (the version is the InferenceService's).
KSERVE_TAG = "kserve"
#: KServe's fixed mount point for the model files.
MODEL_DIR = "/mnt/models"
#: What spec metrics become in KServe's ``scaleMetric`` (its closest per-pod signal). Only
#: metrics whose target counts requests: the spec's target becomes ``scaleTarget`` as it is, so
#: a latency (seconds), a KV-cache share or a token count would be read as requests per pod.
SCALE_METRICS = {
    "concurrency": "concurrency",
    "queue_depth": "concurrency",
    "rps": "rps",
    "requests_waiting": "concurrency",
}
#: The spec's autoscaling fields that only inferd's own autoscaler reads: KServe's has its own
#: settings (Knative's config-autoscaler), so a spec that sets one is told it is not rendered.
#: Those KEDA and the HPA lack too, and the windows they have and Knative has not.
KNATIVE_OWN = frozenset(
    {"scale_up_window", "scale_down_window", "scale_to_zero_after", *INFERD_UP_OWN}
)


def runtime_name(gpus: int) -> str:
    """``inferd`` for CPU pods, ``inferd-gpu`` for the GPU image variant."""
    return RUNTIME_NAME if gpus == 0 else f"{RUNTIME_NAME}-gpu"


def serving_runtime(spec: Spec, options: K8sOptions, gpus: int) -> Obj:
    """The ServingRuntime for pods with ``gpus`` GPUs (> 0 picks the GPU image variant)."""
    model = f"{{{{.Name}}}}:{KSERVE_TAG}"
    # KServe substitutes {{.Name}}; a shell chains the import and the server (exec, so SIGTERM
    # reaches the server itself and it drains).
    script = (
        f"inferd push {MODEL_DIR} {model} --quiet && "
        f"exec inferd serve {model} --host 0.0.0.0 --port {HTTP_PORT} --grpc-port {GRPC_PORT}"
    )
    container = {
        "name": "kserve-container",
        "image": options.image_for(gpus),
        "command": ["/bin/sh", "-c"],
        "args": [script],
        "env": [{"name": "INFERD_HOME", "value": STORE_PATH}],
        "ports": [{"name": "http1", "containerPort": HTTP_PORT, "protocol": "TCP"}],
        # The server binds its port before it loads the model: without this probe a pod would
        # be ready (Knative's TCP probe, or none in raw mode) while every request got 503.
        # Knative probes the container's own port only, by number.
        "readinessProbe": {"httpGet": {"path": HEALTH_READY, "port": HTTP_PORT}},
        "securityContext": container_security(),
        "volumeMounts": [
            {"name": "store", "mountPath": STORE_PATH},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - a private emptyDir
        ],
    }
    body = {
        "annotations": {
            "prometheus.kserve.io/port": str(HTTP_PORT),
            "prometheus.kserve.io/path": "/metrics",
        },
        "supportedModelFormats": [
            {"name": name, "version": "1", "autoSelect": True, "priority": 1}
            for name in SUPPORTED_FORMATS
        ],
        "protocolVersions": ["v2", "grpc-v2"],
        "containers": [container],
        "volumes": [{"name": "store", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
    }
    meta = metadata(runtime_name(gpus), options, labels(spec))
    return obj("serving.kserve.io/v1alpha1", "ServingRuntime", meta, body)


def omitted(deployment: DeploymentSpec, canary: Canary, stage: Stage) -> list[str]:
    """What the spec asks of this deployment that KServe has no field for, and the other step
    of its canary (reported, since silently dropping a shadow or an A/B route would surprise
    whoever applies the output)."""
    out = []
    if deployment.traffic.shadow is not None:
        out.append(f"traffic.shadow ({deployment.traffic.shadow}): KServe has no mirroring")
    if deployment.traffic.header_routes:
        out.append("traffic.header_routes: KServe has no header routing")
    if deployment.traffic.sticky_header is not None:
        out.append("traffic.sticky_header: KServe has no sticky routing")
    scaling = deployment.autoscaling
    timing = sorted(scaling.model_fields_set & KNATIVE_OWN) if scaling is not None else []
    if timing:
        out.append(
            f"autoscaling.{', autoscaling.'.join(timing)}: KServe's autoscaler (Knative) keeps "
            "its own windows, rates and cold starts (set them in its config-autoscaler)"
        )
    if scaling is not None and scaling.metric in SCALE_METRICS:
        target = scale_target(scaling.target)
        if target != scaling.target:
            out.append(
                f"autoscaling.target {scaling.target:g}: KServe's scaleTarget is a whole number "
                f"({target})"
            )
    if deployment.rollout is not None:
        out.append(
            f"{policy_name(deployment.rollout)} and its analysis: KServe shifts a canary's "
            "traffic to the canaryTrafficPercent rendered (its weight) and no further, judging "
            "nothing; render each step's weight and apply it, or let inferd up's rollout "
            "controller carry it out"
        )
    if canary.candidate is not None and stage == "stable":
        out.append(
            f"canary {canary.candidate.name!r} ({canary.weight}%): the next step, rendered with "
            "--stage canary once this InferenceService is Ready"
        )
    if canary.candidate is not None and stage == "canary":
        out.append(
            f"stable version {canary.stable.name!r}: the revision KServe already runs; on a "
            "cluster without it, apply --stage stable first and wait until it is Ready"
        )
    return out


def scale_target(target: float) -> int:
    """The spec's target as KServe's whole ``scaleTarget`` (at least 1)."""
    return max(1, round(target))


def predictor_scaling(deployment: DeploymentSpec, version: VersionSpec) -> Obj:
    """The predictor's replica bounds: the deployment's autoscaling (KServe's own metric and
    target), or the served version's fixed replica count."""
    scaling = deployment.autoscaling
    if scaling is None:
        return {"minReplicas": version.replicas, "maxReplicas": version.replicas}
    if scaling.metric not in SCALE_METRICS:
        raise InvalidArgument(
            f"{deployment.name}: autoscaling.metric {scaling.metric} (target {scaling.target:g}) "
            "cannot be rendered for KServe, which scales on requests per pod (concurrency or "
            f"rps) and would read the target as such; use one of {', '.join(SCALE_METRICS)}, "
            "or render with --target plain (KEDA queries the metric itself)"
        )
    return {
        "minReplicas": scaling.min_replicas,
        "maxReplicas": scaling.max_replicas,
        "scaleMetric": SCALE_METRICS[scaling.metric],
        "scaleTarget": scale_target(scaling.target),
    }


def revision_timeout(spec: Spec, request_timeout: float | None) -> Obj:
    """The predictor's ``timeout``, where Knative's default would cut the server short.

    In KServe's Serverless mode Knative refuses ``terminationGracePeriodSeconds`` and sets it
    to the revision's timeout, which also bounds each request (300 s unless KServe's
    ``timeout`` says otherwise). A drain, or a ``request_timeout`` the server enforces, longer
    than that would be cut mid-way, so the timeout is raised to cover both.
    """
    needed = max(grace_period_s(spec), math.ceil(request_timeout or 0))
    return {"timeout": needed} if needed > KNATIVE_TIMEOUT_S else {}


def inference_service(
    deployment: DeploymentSpec, spec: Spec, options: K8sOptions, gpu: GpuPod
) -> Obj:
    """The InferenceService of one deployment (named after it), at ``options.stage``.

    One ``storageUri`` is one model, which the runtime imports alone: an adapter version (a
    language model's LoRA, ``adapter_of``) has no base there, so it is named, not served."""
    adapters = [v for v in deployment.versions if v.adapter_of is not None]
    canary = canary_of(
        deployment.model_copy(
            update={"versions": [v for v in deployment.versions if v not in adapters]}
        )
    )
    version = canary.serving(options.stage)
    if version.trust_code:
        # The ServingRuntime's command is shared by every InferenceService that uses it.
        raise InvalidArgument(
            f"{deployment.name}/{version.name}: trust_code cannot be rendered for KServe: its "
            "ServingRuntime serves every InferenceService with one command, so it cannot trust "
            "one model's code; render this spec with --target plain"
        )
    canary_percent = canary.weight if version is canary.candidate else None
    reference = remote_reference(version, options)
    predictor = predictor_scaling(deployment, version)
    if canary_percent is not None:
        predictor["canaryTrafficPercent"] = canary_percent
    predictor["model"] = {
        "modelFormat": {"name": MODEL_FORMAT},
        "runtime": runtime_name(gpu.gpus),
        "protocolVersion": "v2",
        "storageUri": f"oci://{reference}",
        # The runtime's container is every InferenceService's: the deployment's own server
        # settings (batching, threads, device, timeouts, an LLM's slots) go in the model's,
        # which KServe merges into it.
        "env": server_env(deployment, spec, gpu, deployment.name),
        "resources": resources(deployment, gpu),
    }
    predictor.update(gpu.pod_fields())
    predictor.update(
        revision_timeout(spec, deployment.request_timeout or spec.gateway.request_timeout)
    )
    if options.registry_secret is not None:  # the kubelet pulls the oci:// model (a modelcar)
        predictor["imagePullSecrets"] = pull_secrets(options)
    meta = metadata(
        deployment.name, options, labels(spec, deployment.name, version.name, model=version.model)
    )
    meta["annotations"] = {"inferd.dev/model": version.model}
    dropped = omitted(deployment, canary, options.stage)
    dropped += [
        f"adapter version {v.name!r} (LoRA over {v.adapter_of}): a KServe predictor serves one "
        "storageUri, imported without its base; serve adapters with the plain target"
        for v in adapters
    ]
    if dropped:
        meta["annotations"][OMITTED_ANNOTATION] = "; ".join(dropped)
    return obj("serving.kserve.io/v1beta1", "InferenceService", meta, {"predictor": predictor})
