"""Alert rules of a stack, with thresholds from its spec (docs/alerts.md lists each).

Every rule reads documented series only: the model servers' (docs/metrics.md), ``inferd up``'s
gateway (docs/gateway.md, docs/autoscaling.md, docs/rollouts.md), the DCGM-named GPU series
(docs/kubernetes.md) and, on a cluster, kube-state-metrics and the Argo Rollouts controller.
Series of the model servers carry ``deployment`` on both platforms: ``inferd up``'s gateway adds
it, and on a cluster the ServiceMonitor copies it from the pod's ``inferd.dev/deployment`` label
(:mod:`inferd.deploy.monitoring`). Each alert is labelled with the spec's ``deployment`` (and
``version`` where one version is meant) and a ``severity``.

Thresholds come from the spec where it has them — ``rollout.analysis`` (error rate, p99, drift,
divergence), ``slo.latency_p99`` (p99, before the analysis' limit), ``batching.max_queue_size``
and ``autoscaling.cold_start_timeout`` — and otherwise from the defaults below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from inferd.deploy import argo
from inferd.deploy.canary import canary_of, without_candidate
from inferd.deploy.k8s_options import K8sOptions
from inferd.deploy.objects import workload_name
from inferd.deploy.rules.model import Need, Platform, Rule, alert
from inferd.deploy.rules.promql import (
    BY_VERSION,
    ERROR_OUTCOMES,
    Scope,
    le,
    number,
    ratio,
)
from inferd.observe.drift import DRIFT_PSI
from inferd.observe.metrics import QUEUE_DEPTH
from inferd.spec.model import AnalysisSpec, DeploymentSpec, Spec, VersionSpec

#: Input drift (PSI) above which a feature has drifted, when ``rollout.analysis.max_drift_psi``
#: is unset (docs/metrics.md: above 0.2 drifted).
DEFAULT_MAX_DRIFT_PSI = 0.2
#: Share of a shadow's label elements that may differ from the primary's, when
#: ``rollout.analysis.max_divergence`` is unset.
DEFAULT_MAX_DIVERGENCE = 0.05
#: Queue depth as a share of ``batching.max_queue_size`` that counts as saturated.
QUEUE_SATURATION = 0.8
#: GPU memory used as a share of the GPU's usable memory that counts as near full.
GPU_MEMORY_NEAR_FULL = 0.9
#: Buckets of ``inferd_autoscaler_cold_start_seconds`` (control/autoscale/coldstart.py).
COLD_START_BUCKETS = (0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
#: How far back a rollout failure or a slow cold start keeps its alert firing.
EVENT_WINDOW = "1h"

_RATE = "5m"
#: A pod of a Deployment or Rollout: ``{workload}-{pod-template hash}-{suffix}``.
_POD_OF = "{name}-[a-z0-9]+-[a-z0-9]+"
_KSM: frozenset[Need] = frozenset({"kube-state-metrics"})
_ARGO: frozenset[Need] = frozenset({"argo-rollouts"})
_UP: frozenset[Need] = frozenset({"inferd-up"})
_GPU: frozenset[Need] = frozenset({"gpu"})
_EVENT: frozenset[Need] = frozenset({"event"})
#: Requests that reached a version the server knows (not ``model="unknown"``).
_KNOWN_VERSION = 'version!=""'
_SHED = 'outcome="unavailable"'
_ERRORS = f'outcome=~"{ERROR_OUTCOMES}"'


@dataclass(frozen=True, slots=True)
class Workload:
    """The Kubernetes workload that runs one version's pods."""

    version: VersionSpec
    name: str
    kind: Literal["Deployment", "Rollout"]


def workloads(deployment: DeploymentSpec, options: K8sOptions) -> list[Workload]:
    """The workloads :func:`~inferd.deploy.render.render` writes for ``deployment`` (plain
    target): a Deployment per version, or with ``--progressive argo`` a Rollout for the main
    version and no workload of its own for the candidate."""
    if not argo.handles(deployment, options):
        versions = deployment.versions
        return [Workload(v, workload_name(deployment, v), "Deployment") for v in versions]
    canary = canary_of(deployment)
    routed = without_candidate(deployment, canary)
    return [
        Workload(
            v,
            workload_name(deployment, v),
            "Rollout" if v.name == canary.stable.name else "Deployment",
        )
        for v in routed.versions
    ]


def analysis_of(deployment: DeploymentSpec) -> AnalysisSpec:
    """The rollout analysis' limits, or their defaults when the deployment has no rollout."""
    return deployment.rollout.analysis if deployment.rollout is not None else AnalysisSpec()


def latency_limit(deployment: DeploymentSpec) -> float | None:
    """The p99 the deployment must stay under: its SLO's, else its rollout analysis'."""
    if deployment.slo is not None and deployment.slo.latency_p99 is not None:
        return deployment.slo.latency_p99
    return analysis_of(deployment).max_latency_p99


def deployment_alerts(
    deployment: DeploymentSpec, options: K8sOptions, platform: Platform
) -> list[Rule]:
    """Every alert of one deployment that can have data on ``platform``."""
    scope = Scope(deployment.name, options.namespace if platform == "kubernetes" else None)
    out: list[Rule] = []
    if platform == "kubernetes":
        out += _cluster_replicas(deployment, options, scope)
    else:
        out += _local_replicas(deployment, scope)
    out += _traffic(deployment, scope)
    out += _model_health(deployment, scope)
    if deployment.traffic.shadow is not None:
        out += _divergence(deployment, scope)
    out += _rollout_failed(deployment, options, scope, platform)
    scaling = deployment.autoscaling
    if scaling is not None and scaling.min_replicas == 0:
        out.append(_cold_start(deployment, scope, scaling.cold_start_timeout))
    if deployment.resources.gpu > 0:
        out.append(_gpu_memory(deployment, scope))
    # The label also keeps two deployments' alerts of one name apart (promtool refuses rules
    # of one name and label set).
    return [
        replace(r, labels={**r.labels, "deployment": deployment.name})
        for r in out
        if r.runs_on(platform)
    ]


def _traffic(deployment: DeploymentSpec, scope: Scope) -> list[Rule]:
    d = deployment.name
    limit = analysis_of(deployment).max_error_rate
    errors = ratio(
        scope.versioned(
            f"rate(inferd_requests_total{scope.sel(_KNOWN_VERSION, _ERRORS)}[{_RATE}])"
        ),
        scope.versioned(f"rate(inferd_requests_total{scope.sel(_KNOWN_VERSION)}[{_RATE}])"),
        BY_VERSION,
    )
    out = [
        alert(
            "InferdErrorRateHigh",
            errors,
            f"> {number(limit)}",
            severity="warning",
            for_="5m",
            summary=f"{d}: more than {number(limit * 100)}% of requests fail",
            description="{{ $labels.deployment }}/{{ $labels.version }}: {{ $value "
            "| humanizePercentage }} of requests ended in error, deadline or unavailable over "
            f"{_RATE} (limit {number(limit * 100)}%, {_origin(deployment, 'max_error_rate')}).",
        ),
        alert(
            "InferdRequestsShed",
            f"sum by ({BY_VERSION}) "
            + _paren(
                scope.versioned(
                    f"rate(inferd_requests_total{scope.sel(_KNOWN_VERSION, _SHED)}[{_RATE}])"
                )
            ),
            "> 0",
            severity="warning",
            for_="10m",
            summary=f"{d}: requests refused with 503 for 10 minutes",
            description="{{ $labels.deployment }}/{{ $labels.version }} refuses {{ $value "
            "| humanize }} requests/s as unavailable (queue full, or the version not ready).",
        ),
    ]
    depth_limit = deployment.batching.max_queue_size
    depth = scope.versioned(f"{QUEUE_DEPTH}{scope.sel()}")
    saturation = f"max by ({BY_VERSION}) ({depth}) / {number(depth_limit)}"
    out.append(
        alert(
            "InferdQueueSaturated",
            saturation,
            f"> {number(QUEUE_SATURATION)}",
            severity="warning",
            for_="5m",
            summary=f"{d}: a replica's batch queue is over {number(QUEUE_SATURATION * 100)}% full",
            description="{{ $labels.deployment }}/{{ $labels.version }}: the fullest replica's "
            f"queue holds {{{{ $value | humanizePercentage }}}} of max_queue_size "
            f"({depth_limit}); beyond it requests are shed.",
        )
    )
    p99_limit = latency_limit(deployment)
    if p99_limit is not None:
        p99 = (
            f"histogram_quantile(0.99, sum by ({BY_VERSION}, le) "
            + _paren(
                scope.versioned(
                    f"rate(inferd_request_duration_seconds_bucket{scope.sel()}[{_RATE}])"
                )
            )
            + ")"
        )
        slo = deployment.slo
        field = (
            "slo.latency_p99"
            if slo is not None and slo.latency_p99 is not None
            else ("rollout.analysis.max_latency_p99")
        )
        out.append(
            alert(
                "InferdLatencyP99AboveSlo",
                p99,
                f"> {number(p99_limit)}",
                severity="warning",
                for_="10m",
                summary=f"{d}: p99 latency above {_ms(p99_limit)}",
                description="{{ $labels.deployment }}/{{ $labels.version }}: p99 "
                "{{ $value | humanizeDuration }} over "
                + _RATE
                + f" (limit {_ms(p99_limit)}: {field}).",
            )
        )
    return out


def _model_health(deployment: DeploymentSpec, scope: Scope) -> list[Rule]:
    d = deployment.name
    psi_limit = analysis_of(deployment).max_drift_psi or DEFAULT_MAX_DRIFT_PSI

    def load_failures(offset: str) -> str:
        selector = scope.versioned(f"inferd_model_load_failures_total{scope.sel()}{offset}")
        return f"sum by ({BY_VERSION}) ({selector})"

    return [
        alert(
            "InferdInputDrift",
            f"max by ({BY_VERSION}, input, feature) "
            + _paren(scope.versioned(f"{DRIFT_PSI}{scope.sel()}")),
            f"> {number(psi_limit)}",
            severity="warning",
            for_="15m",
            summary=f"{d}: an input feature drifted from the training data",
            description="{{ $labels.deployment }}/{{ $labels.version }} input "
            "{{ $labels.input }} feature {{ $labels.feature }}: PSI {{ $value | printf "
            f'"%.3f" }}}} (limit {number(psi_limit)}, {_origin(deployment, "max_drift_psi")}).',
            needs=frozenset({"drift-profile"}),
        ),
        alert(
            "InferdModelLoadFailed",
            new_events(load_failures, BY_VERSION, "15m"),
            "> 0",
            severity="warning",
            summary=f"{d}: a version failed to load",
            description="{{ $labels.deployment }}/{{ $labels.version }} failed to load "
            "{{ $value | humanize }} times in 15m; its previous version keeps serving, or none "
            "does (inferd_model_state).",
            needs=_EVENT,
        ),
    ]


def _divergence(deployment: DeploymentSpec, scope: Scope) -> list[Rule]:
    """The shadow's answers against the primary's, as the rollout analysis measures them:
    the share of label elements that differ, and the mean absolute difference of scores."""
    d = deployment.name
    analysis = analysis_of(deployment)
    share_limit = analysis.max_divergence or DEFAULT_MAX_DIVERGENCE
    by = "deployment, shadow"
    differing = f"rate(inferd_gateway_shadow_differing_elements_total{scope.sel()}[10m])"
    compared = (
        f"rate(inferd_gateway_shadow_compared_elements_total{scope.sel()}[10m])\n"
        f"  and on (deployment, primary, shadow, output) {differing}"
    )
    out = [
        alert(
            "InferdShadowDivergence",
            ratio(differing, compared, by),
            f"> {number(share_limit)}",
            severity="warning",
            for_="15m",
            summary=f"{d}: the shadow's answers differ from the primary's",
            description="{{ $labels.deployment }}: {{ $value | humanizePercentage }} of "
            "{{ $labels.shadow }}'s label elements differ from the primary's over 10m (limit "
            f"{number(share_limit * 100)}%, {_origin(deployment, 'max_divergence')}).",
            needs=_UP,
        )
    ]
    if analysis.max_score_difference is not None:
        limit = analysis.max_score_difference
        mad = scope.sel('kind="mad"')
        score_sum = f"rate(inferd_gateway_shadow_divergence_sum{mad}[10m])"
        score_count = f"rate(inferd_gateway_shadow_divergence_count{mad}[10m])"
        out.append(
            alert(
                "InferdShadowScoreDifference",
                ratio(score_sum, score_count, by),
                f"> {number(limit)}",
                severity="warning",
                for_="15m",
                summary=f"{d}: the shadow's scores drift from the primary's",
                description="{{ $labels.deployment }}: mean absolute score difference of "
                '{{ $labels.shadow }} {{ $value | printf "%.4f" }} over 10m (limit '
                f"{number(limit)}, rollout.analysis.max_score_difference).",
                needs=_UP,
            )
        )
    return out


def _cluster_replicas(deployment: DeploymentSpec, options: K8sOptions, scope: Scope) -> list[Rule]:
    """Replicas as kube-state-metrics (Deployments) or Argo Rollouts (Rollouts) count them."""
    out: list[Rule] = []
    for w in workloads(deployment, options):
        labels = {"deployment": deployment.name, "version": w.version.name, "workload": w.name}
        if w.kind == "Rollout":
            # The controller's own namespace label may stand in for the Rollout's, so the
            # Rollout is picked by name only.
            available = f'rollout_info_replicas_available{{name="{w.name}"}}'
            desired = f'rollout_info_replicas_desired{{name="{w.name}"}}'
            needs = _ARGO
        else:
            on = scope.namespaced(f'deployment="{w.name}"')
            available = f"kube_deployment_status_replicas_available{on}"
            desired = f"kube_deployment_spec_replicas{on}"
            needs = _KSM
        out += _replica_alerts(
            deployment.name, w.name, available, desired, labels=labels, needs=needs
        )
        pods = scope.namespaced('container="server"', f'pod=~"{_POD_OF.format(name=w.name)}"')
        out.append(
            alert(
                "InferdReplicaRestarting",
                "sum by (namespace, pod) "
                f"(increase(kube_pod_container_status_restarts_total{pods}[15m]))",
                "> 0",
                severity="warning",
                labels=labels,
                summary=f"{w.name}: a model server restarted",
                description="Pod {{ $labels.pod }} of " + f"{deployment.name}/{w.version.name} "
                "restarted {{ $value | humanize }} times in 15m (crash, OOM kill or failed "
                "liveness probe).",
                needs=_KSM,
            )
        )
    return out


def _local_replicas(deployment: DeploymentSpec, scope: Scope) -> list[Rule]:
    """Replicas as ``inferd up``'s autoscaler counts them (autoscaled deployments only)."""
    if deployment.autoscaling is None:
        return []
    ready = f"inferd_autoscaler_ready_replicas{scope.sel()}"
    desired = f"inferd_autoscaler_desired_replicas{scope.sel()}"
    return _replica_alerts(deployment.name, deployment.name, ready, desired, labels={}, needs=_UP)


def _replica_alerts(
    deployment: str,
    what: str,
    available: str,
    desired: str,
    *,
    labels: dict[str, str],
    needs: frozenset[Need],
) -> list[Rule]:
    return [
        alert(
            "InferdNoReadyReplicas",
            available,
            f"== 0 and {desired} > 0",
            severity="critical",
            for_="5m",
            labels=labels,
            summary=f"{what}: no replica is ready",
            description=f"{what} wants replicas but none has been ready for 5m: {deployment} "
            "answers nothing from it (scaled-from-zero starts hold requests up to "
            "cold_start_timeout).",
            needs=needs,
        ),
        alert(
            "InferdReplicasUnavailable",
            f"{desired} - {available}",
            "> 0",
            severity="warning",
            for_="15m",
            labels=labels,
            summary=f"{what}: replicas are not ready",
            description="{{ $value | humanize }} of " + f"{what}'s wanted replicas have not been "
            "ready for 15m (starting, crash-looping, or not schedulable).",
            needs=needs,
        ),
    ]


def _rollout_failed(
    deployment: DeploymentSpec, options: K8sOptions, scope: Scope, platform: Platform
) -> list[Rule]:
    """A rollout that failed: rolled back or failed under ``inferd up``'s controller, a
    Deployment past its progress deadline, an Argo Rollout Degraded (aborted)."""
    d = deployment.name
    if platform == "local":
        if deployment.rollout is None:
            return []
        failed = scope.sel('event=~"rollback|failed"')

        def events(offset: str) -> str:
            return f"sum by (deployment) (inferd_rollout_events_total{failed}{offset})"

        return [
            alert(
                "InferdRolloutFailed",
                new_events(events, "deployment", EVENT_WINDOW),
                "> 0",
                severity="warning",
                summary=f"{d}: a rollout was rolled back or failed",
                description="{{ $labels.deployment }}: {{ $value | humanize }} rollout(s) "
                f"rolled back or failed in the last {EVENT_WINDOW} (inferd rollout history "
                "shows why).",
                needs=_UP | _EVENT,
            )
        ]
    out = []
    for w in workloads(deployment, options):
        labels = {"deployment": d, "version": w.version.name, "workload": w.name}
        if w.kind == "Rollout":
            signal = f'max by (name) (rollout_info{{name="{w.name}",phase="Degraded"}})'
            needs, why = _ARGO, "the Argo Rollout is Degraded (aborted or failed analysis)"
        else:
            on = scope.namespaced(
                f'deployment="{w.name}"', 'condition="Progressing"', 'status="false"'
            )
            signal = f"kube_deployment_status_condition{on}"
            needs, why = _KSM, "the Deployment passed its progress deadline"
        out.append(
            alert(
                "InferdRolloutFailed",
                signal,
                "== 1",
                severity="warning",
                labels=labels,
                summary=f"{w.name}: a rollout failed",
                description=f"{d}/{w.version.name}: {why}; the previous pods keep serving.",
                needs=needs,
            )
        )
    return out


def _cold_start(deployment: DeploymentSpec, scope: Scope, timeout_s: float) -> Rule:
    """Scale-from-zero starts slower than ``cold_start_timeout``, as far as the histogram's
    buckets tell: starts above the largest bucket within the timeout."""
    bound = max((b for b in COLD_START_BUCKETS if b <= timeout_s), default=COLD_START_BUCKETS[0])
    name = "inferd_autoscaler_cold_start_seconds"

    def slow(offset: str) -> str:
        return (
            f"(sum by (deployment) ({name}_count{scope.sel()}{offset})"
            f" - sum by (deployment) ({name}_bucket{scope.sel(le(bound))}{offset}))"
        )

    return alert(
        "InferdColdStartSlow",
        new_events(slow, "deployment", EVENT_WINDOW),
        "> 0",
        severity="warning",
        summary=f"{deployment.name}: scaling from zero took longer than {_s(bound)}",
        description="{{ $labels.deployment }}: {{ $value | humanize }} cold start(s) in the "
        f"last {EVENT_WINDOW} took longer than {_s(bound)} (cold_start_timeout "
        f"{_s(timeout_s)}: requests held longer get 503).",
        needs=_UP | _EVENT,
    )


def _gpu_memory(deployment: DeploymentSpec, scope: Scope) -> Rule:
    used = f"DCGM_FI_DEV_FB_USED{scope.sel()}"
    free = f"DCGM_FI_DEV_FB_FREE{scope.sel()}"
    return alert(
        "InferdGpuMemoryNearFull",
        f"max by (namespace, deployment, gpu, UUID, modelName) ({used} / ({used} + {free}))",
        f"> {number(GPU_MEMORY_NEAR_FULL)}",
        severity="warning",
        for_="10m",
        summary=f"{deployment.name}: GPU memory over {number(GPU_MEMORY_NEAR_FULL * 100)}% used",
        description="{{ $labels.deployment }}: GPU {{ $labels.gpu }} ({{ $labels.modelName }}) "
        "has {{ $value | humanizePercentage }} of its memory in use; a larger batch or another "
        "model may fail to allocate.",
        needs=_GPU,
    )


def new_events(counter: Callable[[str], str], by: str, window: str) -> str:
    """How much a counter grew over ``window``, counting a series newer than the window from
    zero. ``counter(offset)`` writes the counter's sum by ``by`` with ``offset`` after each
    selector.

    ``increase()`` needs two samples of a series, so the first event of a series that the
    event itself creates (a histogram child's first observation, a version's first failed
    load) would go unseen.
    """
    now, before = counter(""), counter(f" offset {window}")
    return f"(\n  ({now} - {before})\n  or\n  ({now} unless on ({by}) {before})\n)"


def _paren(expr: str) -> str:
    return f"({expr})"


def _origin(deployment: DeploymentSpec, field: str) -> str:
    """Where an analysis threshold came from, for an alert's description."""
    rollout = deployment.rollout
    if rollout is not None and field in rollout.analysis.model_fields_set:
        return f"rollout.analysis.{field}"
    return "inferd's default"


def _ms(seconds: float) -> str:
    return f"{number(seconds * 1000)}ms"


def _s(seconds: float) -> str:
    return f"{number(seconds)}s"


def all_alerts(spec: Spec, options: K8sOptions, platform: Platform) -> list[Rule]:
    return [r for d in spec.deployments for r in deployment_alerts(d, options, platform)]
