"""Prometheus metrics of one model server, in one registry object per server.

Every series is documented in ``docs/metrics.md``. Label values come only from model versions the
manager knows: a request for a model the server has never heard of counts under
``model="unknown"``, so random names in requests cannot grow the number of series.

The hot path never looks a label up: :meth:`ServerMetrics.bind` returns the children of one
version once, and the serving code keeps them. The series written per request and per batch are
the event loop's own, without a lock (:mod:`inferd.observe.loop_series`). Queue depth and
in-flight gauges are read from the batcher at scrape time, so they cost nothing per request.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

from inferd.observe.drift import DriftCollector
from inferd.observe.llm_metrics import LlmMetrics
from inferd.observe.loop_series import LoopCounter, LoopCounters, LoopHistogram, LoopHistograms

#: What became of a request; every request counts under exactly one.
OUTCOMES: Final = ("success", "client_error", "unavailable", "deadline", "error")
#: Lifecycle states of a model version (see :class:`inferd.serving.stats.VersionState`).
STATES: Final = ("UNAVAILABLE", "LOADING", "READY", "UNLOADING", "FAILED")
#: The ``model`` label value for requests naming a model the server does not know.
UNKNOWN_MODEL: Final = "unknown"
#: Requests waiting for a batch, per version (the autoscaler's ``queue_depth`` reads it).
QUEUE_DEPTH: Final = "inferd_queue_depth"

#: Request latency buckets (seconds), shared by the server's and the gateway's histograms.
LATENCY_BUCKETS: Final = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
_LOAD_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_VERSION = ("model", "version")


@dataclass(frozen=True, slots=True)
class VersionMetrics:
    """The bound series of one model version; use them directly on the hot path (the event
    loop's: the requests, latency, queue wait, compute and batch size series take no lock)."""

    requests: dict[str, LoopCounter]
    latency: LoopHistogram
    queue_wait: LoopHistogram
    compute: LoopHistogram
    batch_size: LoopHistogram
    last_inference: Gauge


def own_registry() -> CollectorRegistry:
    """A registry of its own (no process-global state), without ``*_created`` series.

    ``*_created`` series double the series count and no dashboard reads them; the switch is
    prometheus_client's own (process-wide, idempotent).
    """
    disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped upstream
    return CollectorRegistry(auto_describe=True)


class ServerMetrics:
    """All series of one server, in a registry of its own (no process-global state)."""

    def __init__(self) -> None:
        self.registry = r = own_registry()
        self._requests = LoopCounters(
            "inferd_requests", "Inference requests by outcome.", (*_VERSION, "outcome"), r
        )
        # Most series are per version: one (model, version) child each.
        histogram = functools.partial(LoopHistograms, labelnames=_VERSION, registry=r)
        gauge = functools.partial(Gauge, labelnames=_VERSION, registry=r)
        self._latency = histogram(
            "inferd_request_duration_seconds",
            "Time from a request reaching the data plane to its response.",
            buckets=LATENCY_BUCKETS,
        )
        self._queue_wait = histogram(
            "inferd_queue_wait_seconds",
            "Time a request waited in the batch queue before its batch started.",
            buckets=LATENCY_BUCKETS,
        )
        self._compute = histogram(
            "inferd_compute_seconds",
            "Time the model took to run one batch.",
            buckets=LATENCY_BUCKETS,
        )
        self._batch_size = histogram(
            "inferd_batch_size", "Rows in each batch the model ran.", buckets=_BATCH_BUCKETS
        )
        self._queue_depth = gauge(QUEUE_DEPTH, "Requests waiting for a batch.")
        self._inflight = gauge(
            "inferd_inflight_requests",
            "Requests accepted and not yet answered (queued or running).",
        )
        self._last_inference = gauge(
            "inferd_model_last_inference_timestamp_seconds",
            "Unix time at which the version last finished a batch.",
        )
        self._load_duration = Histogram(
            "inferd_model_load_duration_seconds",
            "Time to fetch, load and warm up a version.",
            _VERSION,
            registry=r,
            buckets=_LOAD_BUCKETS,
        )
        self._memory = gauge(
            "inferd_model_memory_bytes",
            "Estimated host memory a loaded version holds (resident memory its load added).",
        )
        self._load_failures = Counter(
            "inferd_model_load_failures", "Loads that failed.", _VERSION, registry=r
        )
        self._state = Gauge(
            "inferd_model_state",
            "1 for the state a version is in, 0 for the others.",
            (*_VERSION, "state"), registry=r,
        )  # fmt: skip
        self._unknown = {o: self._requests.labels(UNKNOWN_MODEL, "", o) for o in OUTCOMES}
        #: Input drift of versions whose card has a reference profile (computed at scrape time).
        self.drift = DriftCollector()
        r.register(self.drift)
        #: Generations of language-model versions (OpenTelemetry GenAI names).
        self.llm = LlmMetrics(r, self._last_inference)
        # The server process itself (CPU time, resident memory, file descriptors), under the
        # process_* names every Prometheus client gives them; read from /proc at scrape time.
        ProcessCollector(registry=r)

    def bind(self, model: str, version: str) -> VersionMetrics:
        """Bind (creating if needed) the series of one version; call once per loaded version."""
        return VersionMetrics(
            requests={o: self._requests.labels(model, version, o) for o in OUTCOMES},
            latency=self._latency.labels(model, version),
            queue_wait=self._queue_wait.labels(model, version),
            compute=self._compute.labels(model, version),
            batch_size=self._batch_size.labels(model, version),
            last_inference=self._last_inference.labels(model, version),
        )

    def watch_queue(
        self, model: str, version: str, depth: Callable[[], float], inflight: Callable[[], float]
    ) -> None:
        """Read queue depth and in-flight counts from callables at scrape time."""
        self._queue_depth.labels(model, version).set_function(depth)
        self._inflight.labels(model, version).set_function(inflight)

    def unknown_model_request(self, outcome: str = "client_error") -> None:
        """Count a request that reached no known version (one shared series per outcome)."""
        self._unknown[outcome].inc()

    def watch_state(self, model: str, version: str, state: Callable[[], str]) -> None:
        """Read a version's state from ``state()`` at scrape time (one-hot over :data:`STATES`)."""
        for name in STATES:
            self._state.labels(model, version, name).set_function(
                functools.partial(_is_state, state, name)
            )

    def watch_memory(self, model: str, version: str, held: Callable[[], float]) -> None:
        """Read the bytes a version holds from ``held()`` at scrape time."""
        self._memory.labels(model, version).set_function(held)

    def load_finished(self, model: str, version: str, seconds: float, ok: bool) -> None:
        self._load_duration.labels(model, version).observe(seconds)
        if not ok:
            self.load_refused(model, version)

    def load_refused(self, model: str, version: str) -> None:
        """Count a failed load whose duration was already observed (refused after it ran)."""
        self._load_failures.labels(model, version).inc()

    def forget(self, model: str, version: str) -> None:
        """Drop the series of a version that is gone for good (replaced or removed).

        Load-failure and load-duration series stay: they describe history an operator alerts on.
        """
        for outcome in OUTCOMES:
            _remove(self._requests, model, version, outcome)
        for state in STATES:
            _remove(self._state, model, version, state)
        self.drift.forget(model, version)
        self.llm.forget(model, version)
        for family in (
            self._latency, self._queue_wait, self._compute, self._batch_size,
            self._queue_depth, self._inflight, self._last_inference, self._memory,
        ):  # fmt: skip
            _remove(family, model, version)

    def render(self) -> bytes:
        """The Prometheus text exposition of every series."""
        return generate_latest(self.registry)


def _is_state(state: Callable[[], str], name: str) -> float:
    return 1.0 if state() == name else 0.0


def _remove(
    family: Counter | Gauge | Histogram | LoopCounters | LoopHistograms, *labels: str
) -> None:
    # remove() raises KeyError for a child that was never created; forgetting is idempotent.
    try:
        family.remove(*labels)
    except KeyError:
        return
