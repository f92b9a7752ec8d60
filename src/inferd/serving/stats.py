"""Per-version statistics, counted as they happen and reported in Triton's ``model_stats`` shape;
and the lifecycle states.

:class:`VersionStats` holds the running counters, plain integers updated on the event-loop thread
only, so they need no lock; :meth:`VersionStats.snapshot` freezes them into a
:class:`ModelStatistics` (the statistics extension's record, named as its proto names it) on the
same thread, for the REST and gRPC adapters to encode.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class VersionState(enum.Enum):
    """Where a model version is in its life (the repository index shows these names)."""

    UNAVAILABLE = "UNAVAILABLE"
    LOADING = "LOADING"
    READY = "READY"
    UNLOADING = "UNLOADING"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class StatisticDuration:
    """How many times something happened and the nanoseconds it took in all."""

    count: int = 0
    ns: int = 0


_ZERO = StatisticDuration()


@dataclass(frozen=True, slots=True)
class InferStatistics:
    """Request outcomes and where their time went. inferd decodes and encodes tensors in the
    transport, outside the model run, and caches no results: ``compute_input``,
    ``compute_output`` and ``cache_hit`` stay zero."""

    success: StatisticDuration = _ZERO
    fail: StatisticDuration = _ZERO
    queue: StatisticDuration = _ZERO
    compute_input: StatisticDuration = _ZERO
    compute_infer: StatisticDuration = _ZERO
    compute_output: StatisticDuration = _ZERO
    cache_hit: StatisticDuration = _ZERO


@dataclass(frozen=True, slots=True)
class InferBatchStatistics:
    """The model runs of one batch size (in rows); only ``compute_infer`` carries time."""

    batch_size: int
    compute_input: StatisticDuration = _ZERO
    compute_infer: StatisticDuration = _ZERO
    compute_output: StatisticDuration = _ZERO


@dataclass(frozen=True, slots=True)
class ModelStatistics:
    """What one version has done since it was loaded.

    ``inference_count`` counts rows (requests' batch dimensions) and ``execution_count`` model
    runs, so their ratio is the average dynamic batch size. ``last_inference`` is the Unix time
    in milliseconds of the last finished batch (0 before the first).
    """

    name: str
    version: str
    last_inference: int = 0
    inference_count: int = 0
    execution_count: int = 0
    inference_stats: InferStatistics = field(default_factory=InferStatistics)
    #: Ordered by batch size.
    batch_stats: tuple[InferBatchStatistics, ...] = ()


@dataclass(slots=True)
class Duration:
    """A running count and the nanoseconds spent (see :class:`StatisticDuration`)."""

    count: int = 0
    ns: int = 0

    def add(self, ns: int, count: int = 1) -> None:
        self.count += count
        self.ns += ns

    def snapshot(self) -> StatisticDuration:
        return StatisticDuration(self.count, self.ns)


@dataclass(slots=True)
class VersionStats:
    """The running counters behind one version's :class:`ModelStatistics`."""

    success: Duration = field(default_factory=Duration)
    fail: Duration = field(default_factory=Duration)
    queue: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)
    inference_count: int = 0
    execution_count: int = 0
    last_inference_ms: int = 0
    #: Batch size in rows → compute time of batches that size.
    batches: dict[int, Duration] = field(default_factory=dict)

    def record_batch(self, rows: int, compute_ns: int, finished_ms: int) -> None:
        self.execution_count += 1
        self.inference_count += rows
        self.last_inference_ms = finished_ms
        per_size = self.batches.get(rows)
        if per_size is None:
            per_size = self.batches[rows] = Duration()
        per_size.add(compute_ns)

    def record_answers(self, count: int, queue_ns: int, compute_ns: int) -> None:
        """``count`` requests one batch answered, charged as Triton charges each: its own wait
        (``queue_ns``: theirs summed), and the whole batch's ``compute_ns`` (so ``queue`` and
        ``compute_infer`` count the requests that succeed, and a request's queue plus compute
        time is within its ``success`` time). Once per batch, not per request."""
        self.queue.add(queue_ns, count)
        self.compute_infer.add(compute_ns * count, count)

    def snapshot(self, name: str, version: str) -> ModelStatistics:
        """The counters now, as the statistics of version ``version`` of ``name``."""
        return ModelStatistics(
            name=name,
            version=version,
            last_inference=self.last_inference_ms,
            inference_count=self.inference_count,
            execution_count=self.execution_count,
            inference_stats=InferStatistics(
                success=self.success.snapshot(),
                fail=self.fail.snapshot(),
                queue=self.queue.snapshot(),
                compute_infer=self.compute_infer.snapshot(),
            ),
            batch_stats=tuple(
                InferBatchStatistics(
                    batch_size=size,
                    compute_input=StatisticDuration(d.count, 0),
                    compute_infer=d.snapshot(),
                    compute_output=StatisticDuration(d.count, 0),
                )
                for size, d in sorted(self.batches.items())
            ),
        )
