"""The per-model dashboard: one deployment's versions in depth.

Latency and its parts, dynamic batching, queues, the shadow comparison, input drift per feature,
versions' state, and scale from zero. Topology changes (each rollout step moves weights, so each
is one) and the autoscaler's changes of mind are drawn on every panel.

The panels name the spec's versions. The model servers' series carry the version the server
serves — under ``inferd up`` the tag of the version's model reference (``fraud:v2`` serves as
``v2``, and so does a shadow ``v2-batched`` of the same tag), on Kubernetes the spec's version
name — so they are grouped and filtered (the ``Version`` variable) by ``inferd_version``, the
spec's version that ``inferd up``'s gateway and the ServiceMonitor add to them. The gateway's own
series (requests through the gateway, shadow comparisons) name the spec's versions in
``version``, ``primary`` and ``shadow``, and follow only the ``Deployment`` variable.
"""

from __future__ import annotations

from inferd.deploy.grafana.builder import Annotation, Column, Dashboard, Panel, Query, Row, Variable
from inferd.deploy.grafana.promql import (
    BATCH_SIZE,
    COLD_START,
    COMPUTE,
    DEPLOYMENT,
    DESIRED_REPLICAS,
    DRIFT_KS,
    DRIFT_PSI,
    DRIFT_SAMPLES,
    EJECTIONS,
    GATEWAY_DURATION,
    GATEWAY_REQUESTS,
    HELD_REQUESTS,
    INFLIGHT,
    LAST_INFERENCE,
    LOAD_DURATION,
    MODEL_MEMORY,
    MODEL_STATE,
    NAMESPACE,
    QUEUE_DEPTH,
    QUEUE_WAIT,
    RATE_INTERVAL,
    REQUEST_DURATION,
    REQUESTS,
    RETRIES,
    SHADOW_COMPARED,
    SHADOW_DIFFERING,
    SHADOW_DIVERGENCE,
    SHADOW_REQUESTS,
    TOPOLOGY_GENERATION,
    Series,
    mean,
    quantile,
    select,
    sum_rate,
)

VERSION = 'inferd_version=~"$version"'
#: Matchers of a model server's series of the chosen deployment and versions.
SERVER = (DEPLOYMENT, VERSION)
#: A model server's series per spec version (its ``version`` is its model's tag).
PER_VERSION = ("inferd_version",)
#: The gateway's series per spec version.
PER_SPEC_VERSION = ("version",)
PER_COMPARISON = ("primary", "shadow", "output")
#: PSI above 0.1 is moderate drift and above 0.2 drift (docs/metrics.md).
PSI_LEVELS = ((0.1, "orange"), (0.2, "red"))


def _gauge(series: Series, labels: tuple[str, ...], *matchers: str, how: str = "sum") -> str:
    return f"{how} by ({', '.join(labels)}) ({select(str(series), *matchers)})"


def _per_outcome(title: str, description: str, series: Series, label: str, *matchers: str) -> Panel:
    """A panel of requests per second of ``series``, one line per ``label`` and outcome."""
    return Panel(
        title,
        description,
        (Query(sum_rate(series, (label, "outcome"), *matchers), "{{" + label + "}} {{outcome}}"),),
        unit="reqps",
    )


_LATENCY = Row(
    "Latency",
    (
        Panel(
            "Request latency by version",
            "p50, p95 and p99 of the time from a request reaching a model server (decoded) to "
            "its answer.",
            tuple(
                Query(
                    quantile(q, REQUEST_DURATION, PER_VERSION, *SERVER),
                    f"{{{{inferd_version}}}} p{p}",
                )
                for q, p in ((0.5, 50), (0.95, 95), (0.99, 99))
            ),
            unit="s",
        ),
        Panel(
            "Queue wait and compute, p99 by version",
            "Where the time goes: waiting in the batch queue, and the model running one batch.",
            (
                Query(
                    quantile(0.99, QUEUE_WAIT, PER_VERSION, *SERVER),
                    "{{inferd_version}} queue wait",
                ),
                Query(quantile(0.99, COMPUTE, PER_VERSION, *SERVER), "{{inferd_version}} compute"),
            ),
            unit="s",
        ),
        Panel(
            "Through the gateway: p99 by version",
            "Latency clients of `inferd up` see, retries included, by the spec's version names.",
            (
                Query(
                    quantile(0.99, GATEWAY_DURATION, PER_SPEC_VERSION, DEPLOYMENT),
                    "{{version}} p99",
                ),
            ),
            unit="s",
        ),
        _per_outcome(
            "Through the gateway: requests/s by version and outcome",
            "Requests routed by the gateway of `inferd up` (mirrored copies not included).",
            GATEWAY_REQUESTS,
            "version",
            DEPLOYMENT,
        ),
        Panel(
            "Through the gateway: retries and ejections since inferd up started",
            "Requests the gateway sent to a second replica after the first failed, by reason, "
            "and replicas it ejected as outliers after 5 failures in a row (docs/gateway.md): "
            "each step up is one more. A version that leaves the topology starts again from 0.",
            (
                Query(
                    _gauge(RETRIES, (*PER_SPEC_VERSION, "reason"), DEPLOYMENT),
                    "{{version}} retried ({{reason}})",
                    needs="event",
                ),
                Query(
                    _gauge(EJECTIONS, PER_SPEC_VERSION, DEPLOYMENT),
                    "{{version}} ejected",
                    needs="event",
                ),
            ),
        ),
    ),
)

_BATCHING = Row(
    "Batching and queues",
    (
        Panel(
            "Batch size",
            "Rows in each batch the model ran, as a histogram over time.",
            (
                Query(
                    f"sum by (le) (increase({select(BATCH_SIZE.bucket, *SERVER)}"
                    f"[{RATE_INTERVAL}]))",
                    "{{le}}",
                    heatmap=True,
                ),
            ),
            kind="heatmap",
        ),
        Panel(
            "Average batch size by version",
            "Mean rows per batch: how much dynamic batching gathers.",
            (Query(mean(BATCH_SIZE, PER_VERSION, *SERVER), "{{inferd_version}}"),),
        ),
        Panel(
            "Queue depth and in flight by version",
            "Requests waiting for a batch (the autoscaling signal) and all requests accepted "
            "and not yet answered.",
            (
                Query(_gauge(QUEUE_DEPTH, PER_VERSION, *SERVER), "{{inferd_version}} queued"),
                Query(_gauge(INFLIGHT, PER_VERSION, *SERVER), "{{inferd_version}} in flight"),
            ),
        ),
        _per_outcome(
            "Requests/s by version and outcome",
            "Requests the model servers answered, mirrored copies included.",
            REQUESTS,
            "inferd_version",
            *SERVER,
        ),
    ),
)

_SHADOW = Row(
    "Shadow comparison",
    (
        Panel(
            "Shadow divergence by output",
            "Mean divergence of the shadow's answers from the primary's per comparison: the "
            "share of differing elements (labels) or the mean absolute difference (scores).",
            (
                Query(
                    mean(SHADOW_DIVERGENCE, (*PER_COMPARISON, "kind"), DEPLOYMENT),
                    "{{primary}} vs {{shadow}} {{output}} ({{kind}})",
                ),
            ),
        ),
        Panel(
            "Differing label elements",
            "Share of integer, boolean and string output elements that differ, over all "
            "compared elements.",
            (
                Query(
                    f"{sum_rate(SHADOW_DIFFERING, PER_COMPARISON, DEPLOYMENT)}\n  / "
                    f"{sum_rate(SHADOW_COMPARED, PER_COMPARISON, DEPLOYMENT)}",
                    "{{primary}} vs {{shadow}} {{output}}",
                ),
            ),
            unit="percentunit",
        ),
        _per_outcome(
            "Shadow copies/s by outcome",
            "Mirrored requests: compared, failed, timed out, or dropped (64 in flight at most).",
            SHADOW_REQUESTS,
            "shadow",
            DEPLOYMENT,
        ),
    ),
)

_DRIFT = Row(
    "Input drift",
    (
        Panel(
            "Drift PSI by feature",
            "Population stability index of each feature's live inputs against the card's "
            "reference profile (largest over replicas): under 0.1 stable, above 0.2 drifted. "
            "Versions pushed with --reference-data only, after 500 rows.",
            (
                Query(
                    _gauge(DRIFT_PSI, ("inferd_version", "input", "feature"), *SERVER, how="max"),
                    "{{inferd_version}} {{input}}[{{feature}}]",
                ),
            ),
            thresholds=PSI_LEVELS,
        ),
        Panel(
            "Drift KS by feature",
            "Kolmogorov-Smirnov statistic of each feature against the reference (0 to 1).",
            (
                Query(
                    _gauge(DRIFT_KS, ("inferd_version", "input", "feature"), *SERVER, how="max"),
                    "{{inferd_version}} {{input}}[{{feature}}]",
                ),
            ),
        ),
        Panel(
            "Rows compared with the reference/s",
            "Input rows binned against the reference profile per second.",
            (
                Query(
                    sum_rate(DRIFT_SAMPLES, ("inferd_version", "input"), *SERVER),
                    "{{inferd_version}} {{input}}",
                ),
            ),
            unit="rowsps",
        ),
    ),
)

_VERSIONS = Row(
    "Versions",
    (
        Panel(
            "Replicas by state",
            "Model-server replicas of each version in each state (READY, LOADING, FAILED…).",
            (
                Query(
                    f"count by (inferd_version, state) ({select(MODEL_STATE, *SERVER)} == 1)",
                    instant=True,
                ),
            ),
            kind="table",
            width=8,
            columns=(Column("replicas"),),
        ),
        Panel(
            "Load time and memory by version",
            "Mean time to fetch, load and warm a version up; host memory charged to it.",
            (
                Query(
                    f"sum by (inferd_version) ({select(LOAD_DURATION.sum, *SERVER)})\n"
                    f"  / sum by (inferd_version) ({select(LOAD_DURATION.count, *SERVER)})",
                    instant=True,
                ),
                Query(_gauge(MODEL_MEMORY, PER_VERSION, *SERVER, how="max"), instant=True),
            ),
            kind="table",
            width=8,
            columns=(Column("mean load time", "s"), Column("memory per replica", "bytes")),
        ),
        Panel(
            "Idle for",
            "Time since each version last finished a batch.",
            (
                Query(
                    f"time() - ({_gauge(LAST_INFERENCE, PER_VERSION, *SERVER, how='max')} > 0)",
                    "{{inferd_version}}",
                ),
            ),
            unit="s",
            width=8,
        ),
    ),
)

_SCALING = Row(
    "Scale from zero",
    (
        Panel(
            "Held requests",
            "Requests the gateway holds while a replica cold-starts (deployments that scale "
            "to zero).",
            (Query(select(HELD_REQUESTS, DEPLOYMENT), "{{deployment}}"),),
        ),
        Panel(
            "Cold starts since inferd up started",
            "How many times a first request waited for a replica to start, and the mean wait.",
            (
                Query(
                    f"sum by (deployment) ({select(COLD_START.count, DEPLOYMENT)})", instant=True
                ),
                Query(
                    f"sum by (deployment) ({select(COLD_START.sum, DEPLOYMENT)})\n"
                    f"  / sum by (deployment) ({select(COLD_START.count, DEPLOYMENT)})",
                    instant=True,
                ),
            ),
            kind="table",
            columns=(Column("cold starts"), Column("mean wait", "s")),
        ),
    ),
)

MODEL = Dashboard(
    uid="inferd-model",
    title="inferd / Model",
    description="One deployment's versions: latency, batching, queues, shadow divergence, "
    "input drift, state and cold starts.",
    variables=(
        Variable("namespace", "Namespace", str(MODEL_STATE), "namespace"),
        Variable("deployment", "Deployment", select(MODEL_STATE, NAMESPACE), "deployment"),
        Variable("version", "Version", select(MODEL_STATE, DEPLOYMENT), "inferd_version"),
    ),
    rows=(_LATENCY, _BATCHING, _SHADOW, _DRIFT, _VERSIONS, _SCALING),
    annotations=(
        Annotation(
            "Topology changes",
            f"changes({TOPOLOGY_GENERATION}[1m]) > 0",
            "Topology changed: a rollout step, weights or replicas",
            "blue",
        ),
        Annotation(
            "Scaling",
            f"changes({select(DESIRED_REPLICAS, DEPLOYMENT)}[1m]) > 0",
            "{{deployment}}: the autoscaler changed its desired replicas",
            "orange",
            tags="deployment",
        ),
    ),
    links=("inferd",),
)
