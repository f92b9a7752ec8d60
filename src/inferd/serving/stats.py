"""Per-version statistics in Triton's ``model_stats`` shape, and the lifecycle states.

Counters are plain integers updated on the event-loop thread only, so they need no lock; the
statistics endpoint reads them on the same thread.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class VersionState(enum.Enum):
    """Where a model version is in its life (the repository index shows these names)."""

    UNAVAILABLE = "UNAVAILABLE"
    LOADING = "LOADING"
    READY = "READY"
    UNLOADING = "UNLOADING"
    FAILED = "FAILED"


@dataclass(slots=True)
class Duration:
    """A count and the nanoseconds spent, as Triton reports them."""

    count: int = 0
    ns: int = 0

    def add(self, ns: int, count: int = 1) -> None:
        self.count += count
        self.ns += ns

    def as_dict(self) -> dict[str, int]:
        return {"count": self.count, "ns": self.ns}


@dataclass(slots=True)
class VersionStats:
    """What one version has done since it was loaded.

    ``inference_count`` counts rows (requests' batch dimensions); ``execution_count`` counts model
    runs, so their ratio is the average dynamic batch size.
    """

    success: Duration = field(default_factory=Duration)
    fail: Duration = field(default_factory=Duration)
    queue: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)
    inference_count: int = 0
    execution_count: int = 0
    #: Unix time in milliseconds of the last finished batch; 0 before the first.
    last_inference_ms: int = 0
    #: Batch size in rows → compute time of batches that size.
    batches: dict[int, Duration] = field(default_factory=dict)

    def record_batch(self, rows: int, compute_ns: int, finished_ms: int) -> None:
        self.execution_count += 1
        self.inference_count += rows
        self.compute_infer.add(compute_ns)
        self.last_inference_ms = finished_ms
        per_size = self.batches.get(rows)
        if per_size is None:
            per_size = self.batches[rows] = Duration()
        per_size.add(compute_ns)

    def as_dict(self, name: str, version: str) -> dict[str, Any]:
        """One entry of Triton's ``model_stats`` list."""
        zero = Duration().as_dict()
        return {
            "name": name,
            "version": version,
            "last_inference": self.last_inference_ms,
            "inference_count": self.inference_count,
            "execution_count": self.execution_count,
            "inference_stats": {
                "success": self.success.as_dict(),
                "fail": self.fail.as_dict(),
                "queue": self.queue.as_dict(),
                # inferd decodes and encodes tensors in the transport, outside the model run.
                "compute_input": zero,
                "compute_infer": self.compute_infer.as_dict(),
                "compute_output": zero,
                "cache_hit": zero,
            },
            "batch_stats": [
                {
                    "batch_size": size,
                    "compute_input": {"count": d.count, "ns": 0},
                    "compute_infer": d.as_dict(),
                    "compute_output": {"count": d.count, "ns": 0},
                }
                for size, d in sorted(self.batches.items())
            ],
        }
