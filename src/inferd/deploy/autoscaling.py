"""Autoscaling: a KEDA ScaledObject (or an HPA) per autoscaled version, on ML metrics.

CPU is the wrong signal for a model server: a batching server can be saturated (its queue
growing) at modest CPU, and a GPU server's CPU says nothing. So replicas follow the server's own
series, as Prometheus scrapes them through the ServiceMonitor:

=============  =========================================================  ==================
spec metric    Prometheus query (one version's Service)                   KEDA metric type
=============  =========================================================  ==================
queue_depth    ``sum(inferd_queue_depth{…})``                             AverageValue
concurrency    ``sum(inferd_inflight_requests{…})``                       AverageValue
rps            ``sum(rate(inferd_requests_total{…}[1m]))``                AverageValue
latency_p95    ``histogram_quantile(0.95, …request_duration_seconds…)``   Value
=============  =========================================================  ==================

and for language models served by inferd (vLLM pods scale on vLLM's own series, :mod:`.vllm`):

================  ==========================================================  ==============
spec metric       Prometheus query (one version's Service)                    KEDA metric type
================  ==========================================================  ==============
tokens_in_flight  ``sum(inferd_llm_tokens_in_flight{…})``                     AverageValue
requests_waiting  ``sum(inferd_llm_requests_waiting{…})``                     AverageValue
kv_cache_usage    ``sum(inferd_llm_kv_cache_usage_ratio{…})``                 AverageValue
ttft_p95          ``histogram_quantile(0.95, …time_to_first_token_seconds…)``  Value
================  ==========================================================  ==============

A language model's requests are generations, which never pass the batcher's series above: for
it ``concurrency`` is ``inferd_llm_requests_running`` + ``inferd_llm_requests_waiting``,
``queue_depth`` the waiting ones, ``rps`` the rate of ``inferd_llm_requests_total`` and
``latency_p95`` the p95 of ``gen_ai_server_request_duration_seconds``.

``AverageValue`` divides the sum by the replica count, so ``target`` is per replica, as in the
spec; a latency percentile is already per pod, so it is compared as it is (``Value``).

With ``--autoscaler hpa`` the same metrics are read from the custom metrics API (e.g. the
Prometheus adapter, with the rules in docs/kubernetes.md) as ``Pods`` metrics. Neither scales
to zero: an HPA cannot, and a ScaledObject could but would never come back
(:data:`SCALE_FROM_ZERO_NOTE`), so ``min_replicas: 0`` keeps one replica and says so in the
autoscaler's not-rendered annotation.
"""

from __future__ import annotations

import math

from inferd.deploy.k8s_options import K8sOptions
from inferd.deploy.objects import Obj, labels, metadata, note, obj, workload_name
from inferd.errors import InvalidArgument
from inferd.spec.model import DeploymentSpec, Spec, VersionSpec
from inferd.spec.policies import AutoscalingSpec

POLLING_INTERVAL_S = 15
RATE_WINDOW = "1m"
#: Why ``min_replicas: 0`` renders as one replica. A ScaledObject at zero would stay there: no
#: pod exports the series its Prometheus query reads, so KEDA reads no load, and nothing holds
#: the requests that would be the load (the route's Service has no endpoints).
SCALE_FROM_ZERO_NOTE = (
    "autoscaling.min_replicas 0 and scale_to_zero_after: at zero no pod exports the series "
    "the autoscaler reads and nothing holds the first request, so the version would never "
    "come back; it keeps 1 replica (KServe serverless scales from zero: --target kserve)"
)
#: The spec's autoscaling settings only ``inferd up``'s own autoscaler reads (Knative's model:
#: averaging windows, panic mode, per-decision rates, holding requests through a cold start).
#: KEDA and the HPA read the query as it is each polling interval and scale at the HPA's own
#: rates, so a spec that sets one is told it is not rendered.
INFERD_UP_OWN = (
    "stable_window",
    "panic_window",
    "panic_threshold",
    "max_scale_up_rate",
    "max_scale_down_rate",
    "cold_start_timeout",
)
#: Names the HPA asks the custom metrics API for (the adapter rules publish them).
HPA_METRICS = {
    "queue_depth": "inferd_queue_depth",
    "concurrency": "inferd_inflight_requests",
    "rps": "inferd_requests_per_second",
    "latency_p95": "inferd_request_duration_seconds_p95",
    "tokens_in_flight": "inferd_llm_tokens_in_flight",
    "requests_waiting": "inferd_llm_requests_waiting",
    "kv_cache_usage": "inferd_llm_kv_cache_usage_ratio",
    "ttft_p95": "gen_ai_server_time_to_first_token_seconds_p95",
}
#: Gauges summed over a version's pods (AverageValue divides by the replica count).
_SUMMED = {
    "queue_depth": "inferd_queue_depth",
    "concurrency": "inferd_inflight_requests",
    "tokens_in_flight": "inferd_llm_tokens_in_flight",
    "requests_waiting": "inferd_llm_requests_waiting",
    "kv_cache_usage": "inferd_llm_kv_cache_usage_ratio",
}
#: A language model's gauges for the same metrics (its generations reach none of the above).
_GENERATION_SUMS = {
    "concurrency": ("inferd_llm_requests_running", "inferd_llm_requests_waiting"),
    "queue_depth": ("inferd_llm_requests_waiting",),
}
#: Histograms whose p95 is compared as it is (Value).
_PERCENTILES = {
    "latency_p95": "inferd_request_duration_seconds",
    "ttft_p95": "gen_ai_server_time_to_first_token_seconds",
}


def query(metric: str, service: str, namespace: str | None, *, llm: bool = False) -> str:
    """The PromQL that measures ``metric`` over one version's pods (``llm``: a language
    model's, whose requests are generations)."""
    matchers = f'service="{service}"'
    if namespace is not None:
        matchers = f'namespace="{namespace}",{matchers}'
    if llm and metric in _GENERATION_SUMS:
        return " + ".join(f"sum({s}{{{matchers}}})" for s in _GENERATION_SUMS[metric])
    if metric in _SUMMED:
        return f"sum({_SUMMED[metric]}{{{matchers}}})"
    if metric == "rps":
        counter = "inferd_llm_requests_total" if llm else "inferd_requests_total"
        return f"sum(rate({counter}{{{matchers}}}[{RATE_WINDOW}]))"
    histogram = _PERCENTILES[metric]
    if llm and metric == "latency_p95":
        histogram = "gen_ai_server_request_duration_seconds"
    return (
        "histogram_quantile(0.95, sum by (le) "
        f"(rate({histogram}_bucket{{{matchers}}}[{RATE_WINDOW}])))"
    )


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def _behavior(scaling: AutoscalingSpec) -> Obj:
    return {
        "scaleUp": {"stabilizationWindowSeconds": math.ceil(scaling.scale_up_window)},
        "scaleDown": {"stabilizationWindowSeconds": math.ceil(scaling.scale_down_window)},
    }


def scaled_object(
    deployment: DeploymentSpec, version: VersionSpec, spec: Spec, options: K8sOptions
) -> Obj:
    """A KEDA ScaledObject for one version's Deployment."""
    scaling = _scaling(deployment)
    name = workload_name(deployment, version)
    trigger = {
        "type": "prometheus",
        "metricType": "Value" if scaling.metric in _PERCENTILES else "AverageValue",
        "metadata": {
            "serverAddress": options.prometheus_url,
            "query": query(scaling.metric, name, options.namespace, llm=deployment.llm is not None),
            "threshold": _number(scaling.target),
        },
    }
    body: Obj = {
        "pollingInterval": POLLING_INTERVAL_S,
        # Never 0: see SCALE_FROM_ZERO_NOTE.
        "minReplicaCount": max(scaling.min_replicas, 1),
        "maxReplicaCount": scaling.max_replicas,
        "advanced": {"horizontalPodAutoscalerConfig": {"behavior": _behavior(scaling)}},
        "triggers": [trigger],
    }
    return _scaler(
        body, deployment, version, spec, options, api="keda.sh/v1alpha1", kind="ScaledObject"
    )


def horizontal_autoscaler(
    deployment: DeploymentSpec, version: VersionSpec, spec: Spec, options: K8sOptions
) -> Obj:
    """An autoscaling/v2 HPA on the version's pods' custom metric."""
    scaling = _scaling(deployment)
    metric = {
        "type": "Pods",
        "pods": {
            "metric": {"name": _hpa_metric(deployment, scaling.metric)},
            "target": {"type": "AverageValue", "averageValue": _number(scaling.target)},
        },
    }
    body = {
        # An HPA cannot go below 1 anyway; see SCALE_FROM_ZERO_NOTE.
        "minReplicas": max(scaling.min_replicas, 1),
        "maxReplicas": scaling.max_replicas,
        "metrics": [metric],
        "behavior": _behavior(scaling),
    }
    hpa = "HorizontalPodAutoscaler"
    return _scaler(body, deployment, version, spec, options, api="autoscaling/v2", kind=hpa)


def _scaler(
    body: Obj,
    deployment: DeploymentSpec,
    version: VersionSpec,
    spec: Spec,
    options: K8sOptions,
    *,
    api: str,
    kind: str,
) -> Obj:
    """The ``kind`` object that scales the version's Deployment: its ``scaleTargetRef``, then
    ``body``; labelled as the version, with what of its autoscaling it does not carry out."""
    name = workload_name(deployment, version)
    target = {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}}
    meta = metadata(name, options, labels(spec, deployment.name, version.name, model=version.model))
    manifest = obj(api, kind, meta, {**target, **body})
    return note(manifest, *_unrendered(_scaling(deployment)))


def _unrendered(scaling: AutoscalingSpec) -> list[str]:
    """What of ``scaling`` the autoscaler does not carry out (its not-rendered notes)."""
    out = [SCALE_FROM_ZERO_NOTE] if scaling.min_replicas == 0 else []
    own = [f for f in INFERD_UP_OWN if f in scaling.model_fields_set]
    if own:
        out.append(
            f"autoscaling.{', autoscaling.'.join(own)}: inferd up's autoscaler's windows, panic "
            "mode, rates and cold-start hold; KEDA and the HPA read the query as it is every "
            f"{POLLING_INTERVAL_S} s and scale at the HPA's own rates (its behavior policies)"
        )
    return out


def _hpa_metric(deployment: DeploymentSpec, metric: str) -> str:
    """The custom metric the HPA reads; a language model's generations reach only the series
    named for them, so a metric without one is refused."""
    if deployment.llm is None or metric not in (*_GENERATION_SUMS, "rps", "latency_p95"):
        return HPA_METRICS[metric]
    if metric == "queue_depth":
        return HPA_METRICS["requests_waiting"]
    raise InvalidArgument(
        f"deployment {deployment.name!r}: autoscaling.metric {metric} of a language model "
        f"counts its generations, which the custom metric {HPA_METRICS[metric]} does not; "
        "render with --autoscaler keda (it queries the generation series), or scale on "
        "queue_depth, requests_waiting, tokens_in_flight or kv_cache_usage"
    )


def _scaling(deployment: DeploymentSpec) -> AutoscalingSpec:
    if deployment.autoscaling is None:
        raise InvalidArgument(f"deployment {deployment.name!r} has no autoscaling section")
    return deployment.autoscaling
