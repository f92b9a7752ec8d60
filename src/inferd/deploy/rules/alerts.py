"""Alert rules of a stack, with thresholds from its spec (docs/alerts.md lists each).

Every rule reads documented series only: the model servers' (docs/metrics.md), ``inferd up``'s
gateway (docs/gateway.md, docs/autoscaling.md, docs/rollouts.md), the DCGM-named GPU series
(docs/kubernetes.md) and, on a cluster, kube-state-metrics and the Argo Rollouts controller.
Series of the model servers carry ``deployment`` on both platforms: ``inferd up``'s gateway adds
it, and on a cluster the ServiceMonitor copies it from the pod's ``inferd.dev/deployment`` label
(:mod:`inferd.deploy.monitoring`). Each alert is labelled with the spec's ``deployment`` (and
``version`` where one version is meant) and a ``severity``.

Thresholds come from the spec where it has them — ``rollout.analysis`` (error rate, p99, drift,
divergence, a language model's time to first token and per output token), ``slo.latency_p99``
(p99, before the analysis' limit), ``batching.max_queue_size``
and ``autoscaling.cold_start_timeout`` — and otherwise from the defaults below.

This module writes the alerts on what a deployment answers (errors, latency, queue, drift,
load failures, a shadow's divergence) and puts every alert of a deployment together; the alerts
on its replicas and rollouts are :mod:`inferd.deploy.rules.replica_alerts`', those on a language
model's generations :mod:`inferd.deploy.rules.llm_alerts`'.
"""

from __future__ import annotations

from dataclasses import replace

from inferd.deploy.k8s_options import K8sOptions
from inferd.deploy.rules.llm_alerts import inferd_serves, llm_alerts
from inferd.deploy.rules.model import Need, Platform, Rule, alert
from inferd.deploy.rules.promql import (
    BY_VERSION,
    ERROR_OUTCOMES,
    Scope,
    measurable,
    new_events,
    number,
    ratio,
)
from inferd.deploy.rules.replica_alerts import (
    cluster_replicas,
    cold_start,
    gpu_memory,
    local_replicas,
    rollout_failed,
)
from inferd.observe.drift import DRIFT_PSI
from inferd.observe.llm_metrics import DURATION_BUCKETS
from inferd.observe.metrics import LATENCY_BUCKETS, QUEUE_DEPTH
from inferd.spec.model import DeploymentSpec, Spec
from inferd.spec.policies import AnalysisSpec

#: Input drift (PSI) above which a feature has drifted, when ``rollout.analysis.max_drift_psi``
#: is unset (docs/metrics.md: above 0.2 drifted).
DEFAULT_MAX_DRIFT_PSI = 0.2
#: Share of a shadow's label elements that may differ from the primary's, when
#: ``rollout.analysis.max_divergence`` is unset.
DEFAULT_MAX_DIVERGENCE = 0.05
#: Queue depth as a share of ``batching.max_queue_size`` that counts as saturated.
QUEUE_SATURATION = 0.8

_RATE = "5m"
_UP: frozenset[Need] = frozenset({"inferd-up"})
_LLM: frozenset[Need] = frozenset({"llm"})
#: A language model's generations, request to last token (docs/metrics.md#language-models).
GENERATION_DURATION = "gen_ai_server_request_duration_seconds"
_EVENT: frozenset[Need] = frozenset({"event"})
#: Requests that reached a version the server knows (not ``model="unknown"``).
_KNOWN_VERSION = 'version!=""'
_SHED = 'outcome="unavailable"'
_ERRORS = f'outcome=~"{ERROR_OUTCOMES}"'


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
        out += cluster_replicas(deployment, options, scope)
    else:
        out += local_replicas(deployment, scope)
    # An external engine's replicas (llm.engine vllm or llama-server) export none of the model
    # servers' series: alerts on them could never fire.
    own = inferd_serves(deployment)
    if own:
        out += _traffic(deployment, scope)
        out += _model_health(deployment, scope)
        out += llm_alerts(deployment, analysis_of(deployment), scope)
    if deployment.traffic.shadow is not None:
        out += _divergence(deployment, scope)
    out += rollout_failed(deployment, options, scope, platform)
    scaling = deployment.autoscaling
    if scaling is not None and scaling.min_replicas == 0:
        out.append(cold_start(deployment, scope, scaling.cold_start_timeout))
    if deployment.resources.gpu > 0 and own:
        out.append(gpu_memory(deployment, scope))
    # The label also keeps two deployments' alerts of one name apart (promtool refuses rules
    # of one name and label set).
    return [
        replace(r, labels={**r.labels, "deployment": deployment.name})
        for r in out
        if r.runs_on(platform)
    ]


def _traffic(deployment: DeploymentSpec, scope: Scope) -> list[Rule]:
    if deployment.llm is not None:
        # A language model's requests never reach inferd_requests_total nor the batch queue:
        # its failures alert in llm_alerts, its latency on its generations.
        return _latency(deployment, scope)
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
    return out + _latency(deployment, scope)


def _latency(deployment: DeploymentSpec, scope: Scope) -> list[Rule]:
    """p99 above the deployment's limit: of its requests, or a language model's generations
    (request to last token, ``gen_ai_server_request_duration_seconds``)."""
    p99_limit = latency_limit(deployment)
    if p99_limit is None:
        return []
    llm = deployment.llm is not None
    series = GENERATION_DURATION if llm else "inferd_request_duration_seconds"
    buckets = scope.versioned(f"rate({series}_bucket{scope.sel()}[{_RATE}])")
    slo = deployment.slo
    field = (
        "slo.latency_p99"
        if slo is not None and slo.latency_p99 is not None
        else "rollout.analysis.max_latency_p99"
    )
    bounds = DURATION_BUCKETS if llm else LATENCY_BUCKETS
    measurable(p99_limit, bounds, deployment=deployment.name, field=field, series=series)
    what = "generations' p99" if llm else "p99"
    return [
        alert(
            "InferdLatencyP99AboveSlo",
            f"histogram_quantile(0.99, sum by ({BY_VERSION}, le) ({buckets}))",
            f"> {number(p99_limit)}",
            severity="warning",
            for_="10m",
            summary=f"{deployment.name}: p99 latency above {_ms(p99_limit)}",
            description="{{ $labels.deployment }}/{{ $labels.version }}: "
            + what
            + " {{ $value | humanizeDuration }} over "
            + _RATE
            + f" (limit {_ms(p99_limit)}: {field}).",
            needs=_LLM if llm else frozenset(),
        )
    ]


def _model_health(deployment: DeploymentSpec, scope: Scope) -> list[Rule]:
    d = deployment.name
    psi_limit = analysis_of(deployment).max_drift_psi or DEFAULT_MAX_DRIFT_PSI

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
            new_events(
                f"inferd_model_load_failures_total{scope.sel()}",
                BY_VERSION,
                "15m",
                per_series=scope.versioned,
            ),
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
    # 0 is a limit (any differing element fails the rollout analysis), not "unset".
    share_limit = (
        DEFAULT_MAX_DIVERGENCE if analysis.max_divergence is None else analysis.max_divergence
    )
    by = "deployment, shadow"
    differing = f"rate(inferd_gateway_shadow_differing_elements_total{scope.sel()}[10m])"
    compared = (
        f"rate(inferd_gateway_shadow_compared_elements_total{scope.sel()}[10m])\n"
        f"  and on (deployment, primary, shadow, output) {differing}"
    )
    share = ratio(differing, compared, by)
    what = "label elements differ"
    if deployment.llm is not None:
        # Generated texts count as labels (one element per answer); max_divergence limits the
        # embeddings' mean cosine distance where no text was compared, as the rollout analysis
        # reads it.
        cosine = scope.sel('kind="cosine_distance"')
        distance = ratio(
            f"rate(inferd_gateway_shadow_divergence_sum{cosine}[10m])",
            f"rate(inferd_gateway_shadow_divergence_count{cosine}[10m])",
            by,
        )
        share = f"(\n{share}\n)\nor\n(\n{distance}\n)"
        what = "answers differ (embeddings: mean cosine distance)"
    out = [
        alert(
            "InferdShadowDivergence",
            share,
            f"> {number(share_limit)}",
            severity="warning",
            for_="15m",
            summary=f"{d}: the shadow's answers differ from the primary's",
            description="{{ $labels.deployment }}: {{ $value | humanizePercentage }} of "
            "{{ $labels.shadow }}'s " + what + " from the primary's over 10m (limit "
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


def all_alerts(spec: Spec, options: K8sOptions, platform: Platform) -> list[Rule]:
    return [r for d in spec.deployments for r in deployment_alerts(d, options, platform)]
