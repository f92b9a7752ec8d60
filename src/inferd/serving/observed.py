"""The hook a loaded version's batches pass through when its card carries a reference profile.

It lives in serving, not observe: it wraps a runtime's :class:`~inferd.runtimes.base.Model`,
and observe sits beside the runtimes without importing them (docs/architecture.md).
"""

from __future__ import annotations

from inferd.datatypes import Tensors
from inferd.observe.drift import DriftMonitor
from inferd.runtimes.base import Model


class ObservedModel:
    """A :class:`~inferd.runtimes.base.Model` that shows each batch's inputs to a monitor after
    predicting, on the same (worker) thread: the batch's answer is computed first, and the
    event loop never runs the binning."""

    def __init__(self, model: Model, monitor: DriftMonitor) -> None:
        self.model = model
        self.monitor = monitor

    def predict(self, inputs: Tensors) -> Tensors:
        outputs = self.model.predict(inputs)
        self.monitor.observe(inputs)
        return outputs

    def close(self) -> None:
        self.model.close()
