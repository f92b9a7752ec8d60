"""What the autoscaler reports of its decisions: the status document's ``autoscaling`` entries
(:class:`ScalingStatus`, which ``inferd ps --json`` and the dashboard show) and the Prometheus
series of :class:`ScalingMetrics`, both about each deployment's main version."""

from __future__ import annotations

import functools

from prometheus_client import CollectorRegistry, Counter, Gauge

from inferd.control.autoscale.decision import DecisionRecord
from inferd.control.autoscale.starts import StartFailure


class ScalingStatus(DecisionRecord):
    """The last decision for one deployment, with its inputs (the status document's
    ``autoscaling`` entries)."""

    deployment: str
    #: The main version, scaled on the deployment's total; while another version a request
    #: woke scales on its own traffic (its decisions logged, not reported here), on its own.
    version: str
    #: Replicas configured, and ready, when it was decided.
    actual: int
    ready: int
    metric: str
    #: The last sample of the metric, and its averages over the stable and panic windows.
    value: float
    stable: float
    panic_value: float
    idle_s: float
    #: The bounds the spec sets on ``actual``.
    min_replicas: int
    max_replicas: int
    #: How long a request waits for a replica while there is none (None: the deployment does
    #: not scale from zero, and such a request is refused).
    cold_start_timeout_s: float | None
    #: Requests the gateway holds, waiting for a replica to start (scaling from zero).
    held: int
    #: Why the last start of ``version`` failed, while the backoff before the next one runs
    #: (reason ``start_backoff``); None when no start failed lately.
    start_failure: StartFailure | None


class ScalingMetrics:
    """``inferd_autoscaler_*``, labelled by deployment."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        gauge = functools.partial(Gauge, labelnames=("deployment",), registry=r)
        self.desired = gauge("inferd_autoscaler_desired_replicas", "Replicas the autoscaler wants.")
        self.actual = gauge("inferd_autoscaler_actual_replicas", "Replicas configured now.")
        self.ready = gauge("inferd_autoscaler_ready_replicas", "Replicas ready to serve now.")
        self.value = Gauge(
            "inferd_autoscaler_metric_value",
            "The scaling metric (deployment total) averaged over each window.",
            ("deployment", "window"),
            registry=r,
        )
        self.panic = gauge("inferd_autoscaler_panic", "1 while the deployment is in panic mode.")
        self.decisions = Counter(
            "inferd_autoscaler_decisions",
            "Autoscaling decisions by reason.",
            ("deployment", "reason"),
            registry=r,
        )

    def record(self, status: ScalingStatus) -> None:
        """Export one decision (a status entry of :meth:`~.loop.AutoscaleLoop.status`)."""
        deployment = status["deployment"]
        self.desired.labels(deployment).set(status["desired"])
        self.actual.labels(deployment).set(status["actual"])
        self.ready.labels(deployment).set(status["ready"])
        self.value.labels(deployment, "stable").set(status["stable"])
        self.value.labels(deployment, "panic").set(status["panic_value"])
        self.panic.labels(deployment).set(1 if status["panic"] else 0)
        self.decisions.labels(deployment, status["reason"]).inc()

    def woken(self, deployment: str) -> None:
        """Export a scale from zero decided outside a tick (a request arrived)."""
        self.desired.labels(deployment).set(1)
        self.decisions.labels(deployment, "scale_from_zero").inc()
