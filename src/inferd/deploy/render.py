"""``render(spec, options)``: the whole spec as Kubernetes objects, a pure function.

Same spec and options, same objects in the same order, byte for byte once dumped — so the output
can be diffed, golden-tested and committed to a GitOps repository. Nothing here reads the store,
the clock or the environment.

Order: cluster-wide GPU configuration first, then per deployment its workloads, Services,
autoscalers and route, and last the stack's ServiceMonitor, PrometheusRule (alerts, SLO and
cost rules, :mod:`.rules`) and Grafana dashboard ConfigMaps (:mod:`.grafana`) (plain target);
the ServingRuntimes and then the InferenceServices (kserve target, which scrapes and alerts on
nothing of its own).

A deployment's ``rollout`` policy is carried out by ``inferd up``'s rollout controller; the plain
target renders it only with ``--progressive argo`` (:mod:`.argo`, canary strategy) and otherwise
names it in the HTTPRoute's not-rendered annotation, as the KServe target names what it drops.

A deployment with ``llm.engine: vllm`` becomes ``vllm serve`` pods and an OpenAI route
(:mod:`.vllm`, :mod:`.llm_route`), or an InferenceService on KServe's Hugging Face runtime
(:mod:`.llm_kserve`); ``llama-server`` is refused (:func:`.vllm_serve.check_renderable`).
"""

from __future__ import annotations

from inferd.deploy import (
    argo,
    autoscaling,
    gateway_api,
    kserve,
    llm_kserve,
    llm_route,
    monitoring,
    rules,
    services,
    vllm,
    vllm_serve,
    workloads,
)
from inferd.deploy.canary import canary_of, policy_name, without_candidate
from inferd.deploy.gpu import GpuPod, gpu_pod, time_slicing_configmap
from inferd.deploy.gpu_fit import check_memory
from inferd.deploy.grafana import grafana_config_maps
from inferd.deploy.k8s_options import K8sOptions
from inferd.deploy.objects import Obj, note, workload_name
from inferd.errors import InvalidArgument
from inferd.spec.model import DeploymentSpec, Spec, VersionSpec
from inferd.spec.policies import RolloutSpec


def render(spec: Spec, options: K8sOptions) -> list[Obj]:
    """Every object for ``spec`` on the target ``options.target``.

    Raises InvalidArgument when the spec cannot be expressed there (a model without a
    registry, a placement that cannot fit, a traffic feature the target lacks), naming why.
    """
    options.check_placements(spec)
    if options.registry is None and spec.registry is not None:
        options = options.model_copy(update={"registry": spec.registry})
    _check_options(options)
    _unique_names(spec)
    for deployment in spec.deployments:
        vllm_serve.check_renderable(deployment)
    placements = [options.placement_of(d) for d in spec.deployments]
    gpus = [gpu_pod(d, p) for d, p in zip(spec.deployments, placements, strict=True)]
    for deployment, placement in zip(spec.deployments, placements, strict=True):
        check_memory(deployment, placement)
    out: list[Obj] = []
    configmap = time_slicing_configmap(placements, options)
    if configmap is not None:
        out.append(configmap)
    if options.target == "kserve":
        inferd_pods = [
            g for d, g in zip(spec.deployments, gpus, strict=True) if vllm_serve.engine(d) != "vllm"
        ]
        for count in sorted({0 if g.gpus == 0 else 1 for g in inferd_pods}):
            out.append(kserve.serving_runtime(spec, options, count))
        out += [
            llm_kserve.inference_service(d, spec, options, g)
            if vllm_serve.engine(d) == "vllm"
            else kserve.inference_service(d, spec, options, g)
            for d, g in zip(spec.deployments, gpus, strict=True)
        ]
        return _note_logging(spec, _note_access(spec, out))
    for deployment, gpu in zip(spec.deployments, gpus, strict=True):
        if vllm_serve.engine(deployment) == "vllm":
            out += _vllm(deployment, spec, options, gpu)
            continue
        if argo.handles(deployment, options):
            out += _argo(deployment, spec, options, gpu)
            continue
        for version in deployment.versions:
            out += _version_objects(deployment, version, spec, options, gpu)
        route = gateway_api.http_route(deployment, spec, options)
        if deployment.rollout is not None:
            note(route, _rollout_note(deployment.rollout, options))
        out.append(route)
        openai = gateway_api.openai_route(deployment, spec, options)
        out += [] if openai is None else [openai]
    out.append(monitoring.service_monitor(spec, options))
    out.append(rules.prometheus_rule(spec, options))
    out += grafana_config_maps(spec, options)
    _unique_objects(out)
    return _note_logging(spec, _note_access(spec, out))


def _note_logging(spec: Spec, out: list[Obj]) -> list[Obj]:
    """A deployment's ``logging:`` is done by inferd up's gateway: its route says so, so a
    cluster is never taken to keep payloads because the spec does."""
    logged = {d.name for d in spec.deployments if d.logging is not None}
    for o in out:
        if o["kind"] in ("HTTPRoute", "InferenceService") and o["metadata"]["name"] in logged:
            note(o, "logging (payload logging by inferd up's gateway): in a cluster, configure "
                 "the InferenceService's logger or the Gateway's access logging")  # fmt: skip
    return out


def _note_access(spec: Spec, out: list[Obj]) -> list[Obj]:
    """gateway.auth, gateway.tls and gateway.tracing are inferd up's: say so on every route, so
    a cluster is never taken to require keys or TLS, or to be traced, because the spec does.
    (The server image has no ``inferd[tracing]``: a pod given ``--otlp-endpoint`` would not
    start.)"""
    notes = []
    if spec.gateway.auth.keys_file is not None or spec.gateway.tls is not None:
        notes.append("gateway.auth and gateway.tls (inferd up's gateway): in a cluster, the "
                     "Gateway's listener terminates TLS and authenticates")  # fmt: skip
    if spec.gateway.tracing is not None:
        notes.append("gateway.tracing (spans of inferd up's gateway and replicas): the server "
                     "image has no inferd[tracing], so pods export no spans; trace at the "
                     "Gateway")  # fmt: skip
    mirrored = {d.name for d in spec.deployments if d.traffic.shadow is not None}
    for o in out:
        if o["kind"] in ("HTTPRoute", "InferenceService"):
            note(o, *notes)
        if o["kind"] == "HTTPRoute" and o["metadata"]["name"] in mirrored:
            note(o, *_shadow_timeout(spec))
    return out


def _shadow_timeout(spec: Spec) -> list[str]:
    """gateway.shadow_timeout, when the spec sets it: the Gateway's mirror has no timeout."""
    if "shadow_timeout" not in spec.gateway.model_fields_set:
        return []
    return [
        f"gateway.shadow_timeout ({spec.gateway.shadow_timeout:g} s, inferd up's gateway): a "
        "RequestMirror has no timeout; the shadow version's own request timeout bounds it"
    ]


#: Options only the plain target reads, and what KServe does instead.
_PLAIN_ONLY = {
    "model_delivery": "KServe delivers models through the InferenceService's storageUri",
    "autoscaler": "KServe scales predictors with its own autoscaler",
    "prometheus_url": "KServe scales predictors with its own autoscaler",
    "gateway": "KServe routes through its own ingress",
    "gateway_namespace": "KServe routes through its own ingress",
}


def _check_options(options: K8sOptions) -> None:
    if options.progressive is not None and options.target == "kserve":
        raise InvalidArgument(
            "--progressive is for the plain target: KServe rolls canaries out itself"
        )
    if options.target == "kserve":
        for name in sorted(_PLAIN_ONLY.keys() & options.model_fields_set):
            flag = "--" + name.replace("_", "-")
            raise InvalidArgument(
                f"{flag} is for the plain target ({name} in an overlay): {_PLAIN_ONLY[name]}"
            )
    if options.stage == "stable" and options.target == "plain" and options.progressive is None:
        raise InvalidArgument(
            "--stage stable needs --target kserve or --progressive argo: the plain target "
            "renders every version with its weight"
        )


def _version_objects(
    deployment: DeploymentSpec, version: VersionSpec, spec: Spec, options: K8sOptions, gpu: GpuPod
) -> list[Obj]:
    """A version's Deployment, Service, PodDisruptionBudget and autoscaler."""
    out = [
        workloads.deployment_object(deployment, version, spec, options, gpu),
        services.service(deployment, version, spec, options),
        workloads.disruption_budget(deployment, version, spec, options),
    ]
    if workloads.autoscaled(deployment, version):
        out.append(_autoscaler(deployment, version, spec, options))
    return out


def _autoscaler(
    deployment: DeploymentSpec, version: VersionSpec, spec: Spec, options: K8sOptions
) -> Obj:
    if options.autoscaler == "keda":
        return autoscaling.scaled_object(deployment, version, spec, options)
    return autoscaling.horizontal_autoscaler(deployment, version, spec, options)


def _argo(deployment: DeploymentSpec, spec: Spec, options: K8sOptions, gpu: GpuPod) -> list[Obj]:
    """The deployment with its main version handed to Argo Rollouts; the candidate lives in
    the Rollout (``--stage canary``) or is not rendered yet (``stable``)."""
    canary = canary_of(deployment)
    routed = without_candidate(deployment, canary)
    main = canary.stable
    out: list[Obj] = []
    for version in routed.versions:
        if version.name != main.name:
            out += _version_objects(deployment, version, spec, options, gpu)
            continue
        rollout = argo.rollout(deployment, canary, spec, options, gpu, stage=options.stage)
        out += [
            note(rollout, *argo.notes(deployment, canary, options.stage)),
            services.service(deployment, main, spec, options),
            argo.canary_service(deployment, main, spec, options),
            workloads.disruption_budget(deployment, main, spec, options),
        ]
        if workloads.autoscaled(deployment, main):
            out.append(argo.retarget(_autoscaler(deployment, main, spec, options)))
        out.append(argo.analysis_template(deployment, main, spec, options))
    out += argo.route_canary(gateway_api.http_route(routed, spec, options), deployment, main)
    openai = gateway_api.openai_route(routed, spec, options)
    out += [] if openai is None else argo.route_canary(openai, deployment, main)
    return out


def _vllm(deployment: DeploymentSpec, spec: Spec, options: K8sOptions, gpu: GpuPod) -> list[Obj]:
    """A vLLM deployment's pods and its OpenAI route (:mod:`.vllm`, :mod:`.llm_route`); its
    rollout policy stays with inferd up's rollout controller."""
    route = llm_route.http_route(deployment, spec, options)
    if deployment.rollout is not None:
        strategy = deployment.rollout.strategy
        note(route, f"rollout ({strategy}): vLLM deployments have no progressive delivery "
             "rendered; let inferd up's rollout controller carry it out")  # fmt: skip
    return [*vllm.objects(deployment, spec, options, gpu), route]


def _rollout_note(policy: RolloutSpec, options: K8sOptions) -> str:
    what = policy_name(policy)
    if options.progressive == "argo":
        return f"{what}: --progressive argo renders canary rollouts only"
    if policy.strategy != "canary":
        return (
            f"{what}: the plain target has no progressive delivery; let inferd up's rollout "
            "controller carry it out (--progressive argo renders canary rollouts only)"
        )
    return (
        f"{what}: the plain target has no progressive delivery; render it with "
        "--progressive argo, or let inferd up's rollout controller carry it out"
    )


def _unique_objects(objects: list[Obj]) -> None:
    """Two objects of one kind and name would silently replace each other on the cluster
    (e.g. a version named ``v1-canary`` beside the canary Service of ``v1``)."""
    seen: set[tuple[str, str]] = set()
    for o in objects:
        key = (o["kind"], o["metadata"]["name"])
        if key in seen:
            raise InvalidArgument(
                f"two rendered objects would both be {key[0]} {key[1]!r}; rename a version"
            )
        seen.add(key)


def _unique_names(spec: Spec) -> None:
    """Deployment ``a`` version ``b-c`` and deployment ``a-b`` version ``c`` would both be
    ``a-b-c`` on the cluster, one silently replacing the other."""
    seen: dict[str, str] = {}
    for deployment in spec.deployments:
        for version in deployment.versions:
            name = workload_name(deployment, version)
            where = f"deployment {deployment.name!r} version {version.name!r}"
            if name in seen:
                raise InvalidArgument(
                    f"{seen[name]} and {where} would both be named {name!r} on Kubernetes; "
                    "rename one of them"
                )
            seen[name] = where
