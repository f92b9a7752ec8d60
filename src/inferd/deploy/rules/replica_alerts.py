"""Alerts on a deployment's replicas: none ready, too few ready, restarting, a failed rollout, a
slow scale-from-zero start, GPU memory near full.

On a cluster they read kube-state-metrics and the Argo Rollouts controller, per workload
(:func:`workloads`); under ``inferd up``, the autoscaler's and the rollout controller's series.
:mod:`inferd.deploy.rules.alerts` puts them with a deployment's other alerts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from inferd.deploy import argo
from inferd.deploy.canary import canary_of, without_candidate
from inferd.deploy.k8s_options import K8sOptions
from inferd.deploy.objects import workload_name
from inferd.deploy.rules.model import Need, Platform, Rule, alert
from inferd.deploy.rules.promql import Scope, le, new_events, number
from inferd.spec.model import DeploymentSpec, VersionSpec

#: GPU memory used as a share of the GPU's usable memory that counts as near full.
GPU_MEMORY_NEAR_FULL = 0.9
#: Buckets of ``inferd_autoscaler_cold_start_seconds`` (control/autoscale/coldstart.py).
COLD_START_BUCKETS = (0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
#: How far back a rollout failure or a slow cold start keeps its alert firing.
EVENT_WINDOW = "1h"

#: A pod of a Deployment or Rollout: ``{workload}-{pod-template hash}-{suffix}``.
_POD_OF = "{name}-[a-z0-9]+-[a-z0-9]+"
_KSM: frozenset[Need] = frozenset({"kube-state-metrics"})
_ARGO: frozenset[Need] = frozenset({"argo-rollouts"})
_UP: frozenset[Need] = frozenset({"inferd-up"})
_GPU: frozenset[Need] = frozenset({"gpu"})
_EVENT: frozenset[Need] = frozenset({"event"})


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


def cluster_replicas(deployment: DeploymentSpec, options: K8sOptions, scope: Scope) -> list[Rule]:
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
            deployment.name,
            w.name,
            available,
            f" and {desired} > 0",
            f"{desired} - {available}",
            labels=labels,
            needs=needs,
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


def local_replicas(deployment: DeploymentSpec, scope: Scope) -> list[Rule]:
    """Replicas as ``inferd up`` counts them, per version: the supervisor's replicas by state
    (``inferd_replicas``, for every version routed: a canary's and a shadow's too), and for an
    autoscaled deployment the autoscaler's wanted and ready replicas of the versions it scales
    (one that wants a replica it cannot start may have none in any state); and replica
    processes that exited unasked (``inferd_replica_failures_total``), which the replicas' own
    series never show (a model that cannot load never gets scraped)."""
    d = deployment.name
    out = []
    if sum(v.replicas for v in deployment.versions) or deployment.autoscaling is not None:
        # Each term sums away only the state (and the series' name), so that ``and`` and ``or``
        # match a version's terms on {instance, job, deployment, version}.
        def replicas(name: str, *matchers: str) -> str:
            return f"sum without (state) ({name}{scope.sel(*matchers)})"

        ready = replicas("inferd_replicas", 'state="ready"')
        waiting = replicas("inferd_replicas", 'state=~"starting|failed"')
        wants, short = f" and {waiting} > 0", ""
        if deployment.autoscaling is not None:
            desired = replicas("inferd_autoscaler_desired_replicas")
            scaled_ready = replicas("inferd_autoscaler_ready_replicas")
            wants = f" and ({waiting} > 0 or {desired} > 0)"
            short = f" or {desired} - {scaled_ready} > 0"
        what = d + "/{{ $labels.version }}"
        out += _replica_alerts(
            d, what, ready, wants, waiting, more_missing=short, labels={}, needs=_UP
        )

    out.append(
        alert(
            "InferdReplicaRestarting",
            new_events(f"inferd_replica_failures_total{scope.sel()}", "deployment, version", "15m"),
            "> 0",
            severity="warning",
            summary=f"{d}: a model server restarted",
            description="{{ $labels.deployment }}/{{ $labels.version }}: replica processes "
            "exited unasked {{ $value | humanize }} times in 15m (a model that cannot load, a "
            "crash or an OOM kill; inferd ps shows why).",
            needs=_UP | _EVENT,
        )
    )
    # A replica that keeps failing is ejected, back after 30 s to 300 s, ejected again after
    # 5 failures: too few errors for InferdErrorRateHigh, while the version has a replica less.
    out.append(
        alert(
            "InferdReplicaEjected",
            new_events(
                f"inferd_gateway_outlier_ejections_total{scope.sel()}", "deployment, version", "15m"
            ),
            "> 0",
            severity="warning",
            summary=f"{d}: the gateway ejects a failing replica",
            description="{{ $labels.deployment }}/{{ $labels.version }}: the gateway ejected a "
            "replica {{ $value | humanize }} times in 15m after 5 failures in a row (connections "
            "refused or reset, 500/502/503/504 answers); inferd ps names it and says when it "
            "comes back.",
            needs=_UP | _EVENT,
        )
    )
    return out


def _replica_alerts(
    deployment: str,
    what: str,
    available: str,
    wants: str,
    missing: str,
    *,
    more_missing: str = "",
    labels: dict[str, str],
    needs: frozenset[Need],
) -> list[Rule]:
    """No replica ready: ``available == 0`` where ``wants`` (`` and …``: the workload wants
    replicas); replicas not ready: ``missing > 0``, or ``more_missing`` (`` or … > 0``)."""
    return [
        alert(
            "InferdNoReadyReplicas",
            available,
            f"== 0{wants}",
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
            missing,
            f"> 0{more_missing}",
            severity="warning",
            for_="15m",
            labels=labels,
            summary=f"{what}: replicas are not ready",
            description="{{ $value | humanize }} of " + f"{what}'s wanted replicas have not been "
            "ready for 15m (starting, crash-looping, or not schedulable).",
            needs=needs,
        ),
    ]


def rollout_failed(
    deployment: DeploymentSpec, options: K8sOptions, scope: Scope, platform: Platform
) -> list[Rule]:
    """A rollout that failed: rolled back or failed under ``inferd up``'s controller, a
    Deployment past its progress deadline, an Argo Rollout Degraded (aborted)."""
    d = deployment.name
    if platform == "local":
        if deployment.rollout is None:
            return []
        failed = scope.sel('event=~"rollback|failed"')

        return [
            alert(
                "InferdRolloutFailed",
                new_events(f"inferd_rollout_events_total{failed}", "deployment", EVENT_WINDOW),
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


def cold_start(deployment: DeploymentSpec, scope: Scope, timeout_s: float) -> Rule:
    """Scale-from-zero starts slower than ``cold_start_timeout``, as far as the histogram's
    buckets tell: starts above the largest bucket within the timeout."""
    bound = max((b for b in COLD_START_BUCKETS if b <= timeout_s), default=COLD_START_BUCKETS[0])
    name = "inferd_autoscaler_cold_start_seconds"

    # Starts counted minus those within the bound, each counted as events (reset-safe).
    starts = new_events(f"{name}_count{scope.sel()}", "deployment", EVENT_WINDOW)
    fast = new_events(f"{name}_bucket{scope.sel(le(bound))}", "deployment", EVENT_WINDOW)

    return alert(
        "InferdColdStartSlow",
        f"{starts}\n-\n{fast}",
        "> 0",
        severity="warning",
        summary=f"{deployment.name}: scaling from zero took longer than {_s(bound)}",
        description="{{ $labels.deployment }}: {{ $value | humanize }} cold start(s) in the "
        f"last {EVENT_WINDOW} took longer than {_s(bound)} (cold_start_timeout "
        f"{_s(timeout_s)}: requests held longer get 503).",
        needs=_UP | _EVENT,
    )


def gpu_memory(deployment: DeploymentSpec, scope: Scope) -> Rule:
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


def _s(seconds: float) -> str:
    return f"{number(seconds)}s"
