"""Which batches run on the event loop instead of the model's worker thread.

A batch normally runs on the version's :class:`~inferd.serving.worker.ModelWorker`: the loop
hands it over and the worker hands the answer back, two thread wake-ups that cost more than a
small model's whole run (measured in docs/benchmarks.md, "Lone requests on the event loop").

The policy: a batch of one request of one row runs on the event loop when the model says its
``predict`` may (``inline_safe``: in-process compute with no I/O and nothing that can hang,
such as an onnxruntime session; not a sandboxed worker, not a model whose batches feed a drift
monitor) and its recent one-row runs took at most :data:`INLINE_NS` (each run moves the
estimate halfway to itself). Every such run is measured too, so a model that slows down goes
back to its worker. Batches of several requests or rows, the first requests after a load, and
every other model always run on the worker. The batcher starts an inline batch only when
nothing else waits, so the model is never run by the loop and the worker at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from inferd.datatypes import Tensors
from inferd.runtimes.base import Model

#: A one-row run the loop may take: about the cost of the two thread hand-offs it saves.
INLINE_NS = 50_000


class InlinePolicy:
    """The recent one-row run time of one model version, and whether a batch may run inline."""

    __slots__ = ("_mean_ns", "_safe")

    def __init__(self, model: Model) -> None:
        self._safe = bool(getattr(model, "inline_safe", False))
        #: Recent one-row, one-request run time; None until the first is measured.
        self._mean_ns: int | None = None

    def allows(self, requests: int, rows: int) -> bool:
        mean = self._mean_ns
        return self._safe and requests == 1 and rows == 1 and mean is not None and mean <= INLINE_NS

    def measured(self, requests: int, rows: int, compute_ns: int) -> None:
        if requests == 1 and rows == 1:
            mean = self._mean_ns
            # Halfway to each new run: a slow first run (cold caches) is forgotten in a few.
            self._mean_ns = compute_ns if mean is None else (mean + compute_ns) // 2


def timed(predict: Callable[[Tensors], Tensors], inputs: Tensors) -> Callable[[], Any]:
    """``predict(inputs)`` as a job that returns the outputs and the nanoseconds it took."""

    def run() -> tuple[Tensors, int]:
        begun = time.perf_counter_ns()
        outputs = predict(inputs)
        return outputs, time.perf_counter_ns() - begun

    return run
