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
    event loop never runs the binning. A batch the model fails on is counted too: its inputs
    arrived all the same, and a model that refuses what it was not trained on (NaN in a
    scikit-learn estimator) would otherwise hide that very drift behind its errors."""

    def __init__(self, model: Model, monitor: DriftMonitor) -> None:
        self.model = model
        self.monitor = monitor

    def predict(self, inputs: Tensors) -> Tensors:
        try:
            return self.model.predict(inputs)
        finally:
            self.monitor.observe(inputs)

    def close(self) -> None:
        self.model.close()
