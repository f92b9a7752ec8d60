"""``render(spec, options)``: the whole spec as Kubernetes objects, a pure function.

Same spec and options, same objects in the same order, byte for byte once dumped — so the output
can be diffed, golden-tested and committed to a GitOps repository. Nothing here reads the store,
the clock or the environment.

Order: cluster-wide GPU configuration first, then per deployment its workloads, Services,
autoscalers and route, and last the stack's ServiceMonitor (plain target); the ServingRuntimes
and then the InferenceServices (kserve target).
"""

from __future__ import annotations

from inferd.deploy import autoscaling, gateway_api, kserve, monitoring, services, workloads
from inferd.deploy.gpu import gpu_pod, time_slicing_configmap
from inferd.deploy.k8s_options import K8sOptions
from inferd.deploy.objects import Obj, workload_name
from inferd.errors import InvalidArgument
from inferd.spec.model import Spec


def render(spec: Spec, options: K8sOptions) -> list[Obj]:
    """Every object for ``spec`` on the target ``options.target``.

    Raises InvalidArgument when the spec cannot be expressed there (a model without a
    registry, a placement that cannot fit, a traffic feature the target lacks), naming why.
    """
    unknown = sorted(set(options.deployments) - {d.name for d in spec.deployments})
    if unknown:
        raise InvalidArgument(
            f"the overlay places deployments the spec does not have: {', '.join(unknown)}"
        )
    _unique_names(spec)
    placements = [options.placement_of(d.name) for d in spec.deployments]
    gpus = [gpu_pod(d, p) for d, p in zip(spec.deployments, placements, strict=True)]
    out: list[Obj] = []
    configmap = time_slicing_configmap(placements, options)
    if configmap is not None:
        out.append(configmap)
    if options.target == "kserve":
        for count in sorted({0 if g.gpus == 0 else 1 for g in gpus}):
            out.append(kserve.serving_runtime(spec, options, count))
        out += [
            kserve.inference_service(d, spec, options, g)
            for d, g in zip(spec.deployments, gpus, strict=True)
        ]
        return out
    for deployment, gpu in zip(spec.deployments, gpus, strict=True):
        for version in deployment.versions:
            out.append(workloads.deployment_object(deployment, version, spec, options, gpu))
            out.append(services.service(deployment, version, spec, options))
            out.append(workloads.disruption_budget(deployment, version, spec, options))
            if workloads.autoscaled(deployment, version):
                scaler = (
                    autoscaling.scaled_object
                    if options.autoscaler == "keda"
                    else autoscaling.horizontal_autoscaler
                )
                out.append(scaler(deployment, version, spec, options))
        out.append(gateway_api.http_route(deployment, spec, options))
    out.append(monitoring.service_monitor(spec, options))
    return out


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
