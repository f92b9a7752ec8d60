"""What the autoscaler reports of its decisions: the status document's ``autoscaling`` entries
(:class:`ScalingStatus`, which ``inferd ps --json`` and the dashboard show) and the Prometheus
series of :class:`ScalingMetrics`, both per scaled version: each deployment's main version, and
each version a request woke from zero while it scales on its own traffic."""

from __future__ import annotations

import functools
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge

from inferd.control.autoscale.decision import DecisionRecord
from inferd.control.autoscale.starts import StartFailure

#: What a version's metric counts: the deployment's total (the main version, while no other
#: version scales on its own), or the version's own traffic.
ScaledOn = Literal["deployment", "version"]


class ScalingStatus(DecisionRecord):
    """The last decision for one scaled version, with its inputs (the status document's
    ``autoscaling`` entries)."""

    deployment: str
    #: The version scaled: the deployment's main version, or another one a request woke.
    version: str
    #: Whether ``version`` is the deployment's main version.
    main: bool
    scaled_on: ScaledOn
    #: Replicas configured, and ready, when it was decided.
    actual: int
    ready: int
    metric: str
    #: The last sample of the metric (of what ``scaled_on`` says), and its averages over the
    #: stable and panic windows.
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
    #: Requests the gateway holds for the deployment, waiting for a replica to start (scaling
    #: from zero).
    held: int
    #: Why the last start of ``version`` failed, while the backoff before the next one runs
    #: (reason ``start_backoff``); None when no start failed lately.
    start_failure: StartFailure | None


class ScalingMetrics:
    """``inferd_autoscaler_*``, labelled by deployment and version (each scaled version's)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        labels = ("deployment", "version")
        gauge = functools.partial(Gauge, labelnames=labels, registry=r)
        self.desired = gauge("inferd_autoscaler_desired_replicas", "Replicas the autoscaler wants.")
        self.actual = gauge("inferd_autoscaler_actual_replicas", "Replicas configured now.")
        self.ready = gauge("inferd_autoscaler_ready_replicas", "Replicas ready to serve now.")
        self.value = Gauge(
            "inferd_autoscaler_metric_value",
            "The scaling metric (the deployment's total, or the version's own while it scales "
            "on its own traffic) averaged over each window.",
            (*labels, "window"),
            registry=r,
        )
        self.panic = gauge("inferd_autoscaler_panic", "1 while the version is in panic mode.")
        self.decisions = Counter(
            "inferd_autoscaler_decisions",
            "Autoscaling decisions by reason.",
            (*labels, "reason"),
            registry=r,
        )

    def record(self, status: ScalingStatus) -> None:
        """Export one decision (a status entry of :meth:`~.loop.AutoscaleLoop.status`)."""
        key = (status["deployment"], status["version"])
        self.desired.labels(*key).set(status["desired"])
        self.actual.labels(*key).set(status["actual"])
        self.ready.labels(*key).set(status["ready"])
        self.value.labels(*key, "stable").set(status["stable"])
        self.value.labels(*key, "panic").set(status["panic_value"])
        self.panic.labels(*key).set(1 if status["panic"] else 0)
        self.decisions.labels(*key, status["reason"]).inc()

    def woken(self, deployment: str, version: str) -> None:
        """Export a scale from zero decided outside a tick (a request arrived)."""
        self.desired.labels(deployment, version).set(1)
        self.decisions.labels(deployment, version, "scale_from_zero").inc()

    def forget(self, deployment: str, version: str) -> None:
        """Drop the gauges of a version no longer scaled (back at zero, no longer the main
        version, or removed): left behind, their last values would read as current. The
        decision counts stay (a counter only grows)."""
        for gauge in (self.desired, self.actual, self.ready, self.panic):
            gauge.remove(deployment, version)  # a label set without a series: nothing to do
        for window in ("stable", "panic"):
            self.value.remove(deployment, version, window)
