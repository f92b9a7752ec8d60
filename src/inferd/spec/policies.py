"""The policies a deployment runs under: how a new version takes over (``rollout``, with the
``analysis`` a canary must pass), how replica counts follow load (``autoscaling``), and the
objective it promises (``slo``).

Validated here; acted on by the rollout controller and the autoscaler under ``inferd up``, and
rendered by ``inferd k8s render`` (Argo Rollouts, KEDA or HPA, burn-rate alerts).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from inferd.spec.types import Duration, StrictModel


class AnalysisSpec(StrictModel):
    """What a canary must satisfy at each step, measured against the stable version."""

    max_error_rate: float = Field(default=0.01, ge=0, le=1, description="share of failed requests")
    max_latency_p99: Duration | None = Field(default=None, gt=0, description="e.g. '250ms'")
    max_latency_ratio: float | None = Field(
        default=None, ge=1, description="candidate p99 / stable p99, e.g. 1.5 (at most 50% slower)"
    )
    max_ttft_p95: Duration | None = Field(
        default=None,
        gt=0,
        description="language models: p95 time to first token of the candidate's streamed "
        "generations through the gateway, e.g. '500ms'",
    )
    max_inter_token_latency_p95: Duration | None = Field(
        default=None,
        gt=0,
        description="language models: p95 of the mean time between streamed tokens, e.g. '50ms'",
    )
    max_divergence: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="share of mirrored rows (or generated answers) whose answers differ; for "
        "embeddings, the mean cosine distance",
    )
    max_score_difference: float | None = Field(
        default=None, ge=0, description="mean absolute difference of mirrored float outputs"
    )
    max_drift_psi: float | None = Field(default=None, gt=0, description="input drift (PSI) limit")
    min_requests: int = Field(default=100, ge=0, description="requests needed before judging")


class RolloutSpec(StrictModel):
    """How a new version takes over (carried out by the rollout controller)."""

    strategy: Literal["canary", "blue-green", "ab"] = "canary"
    steps: list[int] = Field(
        default_factory=list, description="canary weights in percent, increasing, ending at 100"
    )
    interval: Duration = Field(default=60.0, gt=0, description="time between analysis runs")
    progress_deadline: Duration | None = Field(
        default=None,
        description="how long an analysis may wait for analysis.min_requests before it counts "
        "as failed; at least the interval (default: 10 intervals)",
    )
    analysis: AnalysisSpec = AnalysisSpec()
    failure_limit: int = Field(
        default=3, ge=0, description="consecutive failed analyses before rolling back (0 acts as 1)"
    )


class AutoscalingSpec(StrictModel):
    """How replica counts follow load (carried out by the autoscaler)."""

    min_replicas: int = Field(default=1, ge=0, le=64)
    max_replicas: int = Field(default=4, ge=1, le=64)
    metric: Literal[
        "concurrency",
        "queue_depth",
        "rps",
        "latency_p95",
        "tokens_in_flight",
        "requests_waiting",
        "ttft_p95",
        "kv_cache_usage",
    ] = Field(
        default="concurrency",
        description="what target is per replica; tokens_in_flight, requests_waiting, ttft_p95 "
        "and kv_cache_usage are for language models (docs/autoscaling.md)",
    )
    target: float = Field(default=8.0, gt=0, description="desired metric value per replica")
    scale_up_window: Duration = Field(default=0.0, description="stabilisation before scaling up")
    scale_down_window: Duration = Field(default=300.0, description="… before scaling down")
    scale_to_zero_after: Duration | None = Field(
        default=None,
        description="idle time before the last replica stops (needs min_replicas 0; 5m if "
        "left out)",
    )
    stable_window: Duration = Field(
        default=60.0, gt=0, description="the metric is averaged over this window to decide"
    )
    panic_window: Duration = Field(
        default=6.0, gt=0, description="a short window that reacts to bursts (panic mode)"
    )
    panic_threshold: float = Field(
        default=2.0,
        ge=1,
        description="panic when the short window wants this many times the replicas",
    )
    max_scale_up_rate: float = Field(
        default=1000.0, gt=1, description="at most this many times the ready replicas per decision"
    )
    max_scale_down_rate: float = Field(
        default=2.0, gt=1, description="scale down to no fewer than ready / rate per decision"
    )
    cold_start_timeout: Duration = Field(
        default=60.0,
        gt=0,
        description="how long the gateway holds a request while a replica starts",
    )


class SloSpec(StrictModel):
    """A service-level objective; rendered as burn-rate alerts and error-budget recording rules."""

    availability: float = Field(
        ge=50, lt=100, description="percent of requests that succeed over the window, e.g. 99.9"
    )
    latency_p99: Duration | None = Field(
        default=None, gt=0, description="p99 latency the deployment must stay under, e.g. '50ms'"
    )
    window: Duration = Field(
        default=30 * 86400.0, description="the period the objective holds over, e.g. '30d'"
    )

    @field_validator("window")
    @classmethod
    def _long_enough(cls, value: float) -> float:
        if value < 86400:
            raise ValueError(
                f"{value:g} s is shorter than a day; the burn-rate alerts look back 6 hours, "
                "so an SLO window is at least '1d' (usually '28d' or '30d')"
            )
        return value
