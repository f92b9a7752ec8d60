"""The series the dashboards read, each named once, and the few PromQL shapes built from them.

A series renamed in inferd is renamed here, and every panel follows; a name here that no
document lists fails ``tests/deploy/test_grafana.py``, which reads the series tables of
``docs/*.md`` (metrics.md, gateway.md, autoscaling.md, kubernetes.md).

Grafana fills ``$__rate_interval`` (at least four scrape intervals, so a rate always has two
points) and ``$__range`` (the time picker's span); ``$namespace``, ``$deployment`` and
``$version`` are the dashboards' variables, regular expressions when several values (or All) are
picked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from inferd.deploy.rules import slo

SeriesKind = Literal["counter", "gauge", "histogram"]

RATE_INTERVAL = "$__rate_interval"
RANGE = "$__range"


@dataclass(frozen=True, slots=True)
class Series:
    """A metric family as Prometheus stores it (a counter's name ends in ``_total``)."""

    name: str
    kind: SeriesKind

    def __str__(self) -> str:
        return self.name

    @property
    def bucket(self) -> str:
        return self._part("bucket")

    @property
    def sum(self) -> str:
        return self._part("sum")

    @property
    def count(self) -> str:
        return self._part("count")

    def _part(self, suffix: str) -> str:
        if self.kind != "histogram":
            raise TypeError(f"{self.name} is a {self.kind}, it has no _{suffix} series")
        return f"{self.name}_{suffix}"


# The model server (docs/metrics.md); under `inferd up` the gateway adds deployment, replica
# and inferd_version (the spec's version; on a cluster the ServiceMonitor adds it).
REQUESTS = Series("inferd_requests_total", "counter")
REQUEST_DURATION = Series("inferd_request_duration_seconds", "histogram")
QUEUE_WAIT = Series("inferd_queue_wait_seconds", "histogram")
COMPUTE = Series("inferd_compute_seconds", "histogram")
BATCH_SIZE = Series("inferd_batch_size", "histogram")
QUEUE_DEPTH = Series("inferd_queue_depth", "gauge")
INFLIGHT = Series("inferd_inflight_requests", "gauge")
LAST_INFERENCE = Series("inferd_model_last_inference_timestamp_seconds", "gauge")
LOAD_DURATION = Series("inferd_model_load_duration_seconds", "histogram")
MODEL_MEMORY = Series("inferd_model_memory_bytes", "gauge")
MODEL_STATE = Series("inferd_model_state", "gauge")
DRIFT_PSI = Series("inferd_input_drift_psi", "gauge")
DRIFT_KS = Series("inferd_input_drift_ks", "gauge")
DRIFT_SAMPLES = Series("inferd_input_drift_samples_total", "counter")

# Language models (docs/metrics.md#language-models), on the same model servers: OpenTelemetry's
# GenAI histograms and inferd's token, ending and load series.
TIME_TO_FIRST_TOKEN = Series("gen_ai_server_time_to_first_token_seconds", "histogram")
TIME_PER_OUTPUT_TOKEN = Series("gen_ai_server_time_per_output_token_seconds", "histogram")
GENERATION_DURATION = Series("gen_ai_server_request_duration_seconds", "histogram")
LLM_TOKENS = Series("inferd_llm_tokens_total", "counter")
LLM_REQUESTS = Series("inferd_llm_requests_total", "counter")
LLM_RUNNING = Series("inferd_llm_requests_running", "gauge")
LLM_WAITING = Series("inferd_llm_requests_waiting", "gauge")

# The gateway (docs/gateway.md), under `inferd up`.
GATEWAY_REQUESTS = Series("inferd_gateway_requests_total", "counter")
GATEWAY_DURATION = Series("inferd_gateway_request_duration_seconds", "histogram")
SHADOW_REQUESTS = Series("inferd_gateway_shadow_requests_total", "counter")
SHADOW_DIVERGENCE = Series("inferd_gateway_shadow_divergence", "histogram")
SHADOW_COMPARED = Series("inferd_gateway_shadow_compared_elements_total", "counter")
SHADOW_DIFFERING = Series("inferd_gateway_shadow_differing_elements_total", "counter")
TOPOLOGY_GENERATION = Series("inferd_gateway_topology_generation", "gauge")
RETRIES = Series("inferd_gateway_upstream_retries_total", "counter")
EJECTIONS = Series("inferd_gateway_outlier_ejections_total", "counter")

# The autoscaler (docs/autoscaling.md), on the gateway's /metrics.
DESIRED_REPLICAS = Series("inferd_autoscaler_desired_replicas", "gauge")
READY_REPLICAS = Series("inferd_autoscaler_ready_replicas", "gauge")
SCALING_DECISIONS = Series("inferd_autoscaler_decisions_total", "counter")
HELD_REQUESTS = Series("inferd_autoscaler_held_requests", "gauge")
COLD_START = Series("inferd_autoscaler_cold_start_seconds", "histogram")

# Cost accounting (docs/metrics.md, Cost), on the gateway's /metrics: capacity always, money
# only when the spec has prices.
HELD_CPU = Series("inferd_cost_held_cpu_core_seconds_total", "counter")
USED_CPU = Series("inferd_cost_used_cpu_core_seconds_total", "counter")
HELD_MEMORY = Series("inferd_cost_held_memory_gib_seconds_total", "counter")
USED_MEMORY = Series("inferd_cost_used_memory_gib_seconds_total", "counter")
COST_INFO = Series("inferd_cost_info", "gauge")
COST_HELD = Series("inferd_cost_held_total", "counter")
COST_IDLE = Series("inferd_cost_idle_total", "counter")
COST_SAVINGS = Series("inferd_cost_scale_to_zero_savings_total", "counter")
COST_PER_1K = Series("inferd_cost_per_1k_predictions", "gauge")

# Recorded by the SLO rules of deployments with an ``slo:`` (docs/alerts.md#slos).
SLO_OBJECTIVE = Series(slo.OBJECTIVE, "gauge")
SLO_BUDGET_REMAINING = Series(slo.BUDGET_REMAINING, "gauge")
SLO_ERRORS_1H = Series(slo.ERROR_RATIO.format(window="1h"), "gauge")
SLO_ERRORS_6H = Series(slo.ERROR_RATIO.format(window="6h"), "gauge")

# GPUs, under NVIDIA's DCGM exporter names (docs/kubernetes.md): MiB, %, W.
GPU_UTIL = Series("DCGM_FI_DEV_GPU_UTIL", "gauge")
GPU_FB_USED = Series("DCGM_FI_DEV_FB_USED", "gauge")
GPU_FB_FREE = Series("DCGM_FI_DEV_FB_FREE", "gauge")
GPU_FB_TOTAL = Series("DCGM_FI_DEV_FB_TOTAL", "gauge")
GPU_POWER = Series("DCGM_FI_DEV_POWER_USAGE", "gauge")

#: The chosen namespaces (on a cluster; ``inferd up``'s series have none, which ``.*`` and an
#: empty value both match) and the chosen deployments: one stack in two namespaces of one
#: Prometheus has deployments of the same name, kept apart as the rules keep them.
NAMESPACE = 'namespace=~"$namespace"'
DEPLOYMENT = f'{NAMESPACE},deployment=~"$deployment"'

#: Outcomes that are the server's fault or its capacity's, not the client's (as docs/metrics.md's
#: error-ratio example counts them).
FAILED_OUTCOMES = 'outcome=~"error|deadline|unavailable"'


def select(series: str | Series, *matchers: str) -> str:
    """``series{m1,m2}`` (``series`` alone without matchers)."""
    return f"{series}{{{','.join(matchers)}}}" if matchers else str(series)


def rate(series: str | Series, *matchers: str, window: str = RATE_INTERVAL) -> str:
    return f"rate({select(series, *matchers)}[{window}])"


def by(labels: tuple[str, ...]) -> str:
    """``by (a, b) `` for an aggregation, empty for none."""
    return f"by ({', '.join(labels)}) " if labels else ""


def sum_rate(series: str | Series, labels: tuple[str, ...], *matchers: str) -> str:
    return f"sum {by(labels)}({rate(series, *matchers)})"


def quantile(q: float, histogram: Series, labels: tuple[str, ...], *matchers: str) -> str:
    """The ``q`` quantile of ``histogram`` per ``labels``, over the rate interval."""
    buckets = sum_rate(histogram.bucket, ("le", *labels), *matchers)
    return f"histogram_quantile({q}, {buckets})"


def mean(histogram: Series, labels: tuple[str, ...], *matchers: str) -> str:
    """The mean observation of ``histogram`` per ``labels``, over the rate interval."""
    return (
        f"{sum_rate(histogram.sum, labels, *matchers)}\n  / "
        f"{sum_rate(histogram.count, labels, *matchers)}"
    )


def failed_ratio(series: Series, labels: tuple[str, ...], *matchers: str) -> str:
    """Failed requests (:data:`FAILED_OUTCOMES`) as a share of all requests."""
    return (
        f"{sum_rate(series, labels, *matchers, FAILED_OUTCOMES)}\n  / "
        f"{sum_rate(series, labels, *matchers)}"
    )
