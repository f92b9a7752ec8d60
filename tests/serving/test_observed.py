"""ObservedModel: a version's batches are predicted first, then counted by its drift monitor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inferd.config import StoreSettings
from inferd.observe.drift import DriftMonitor
from inferd.observe.profile import build_profile
from inferd.packaging import push
from inferd.runtimes.base import LoadOptions
from inferd.runtimes.registry import get_runtime
from inferd.serving.observed import ObservedModel
from inferd.store import ModelStore

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"

RNG = np.random.default_rng(42)


def test_observed_model_predicts_then_counts(inferd_home: Path) -> None:
    store = ModelStore.from_settings(StoreSettings(home=inferd_home))
    push(store, QUICKSTART / "fraud-v1", "fraud:v1")
    materialized = store.materialize("fraud:v1")
    model = get_runtime("onnx").load(materialized.path, materialized.card, LoadOptions())
    profile = build_profile({"input": RNG.random((1_000, 8))})
    observed = ObservedModel(model, DriftMonitor(profile, min_samples=1))
    rows = RNG.random((5, 8)).astype(np.float32)
    assert_equal = np.testing.assert_array_equal
    for name, array in observed.predict({"input": rows}).items():
        assert_equal(array, model.predict({"input": rows})[name])
    assert observed.monitor.samples() == {"input": 5}
    observed.close()


class _Refusing:
    """A model that fails every batch, as an estimator refusing NaN does."""

    def predict(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise ValueError("Input X contains NaN.")

    def close(self) -> None:
        pass


def test_a_batch_the_model_fails_on_is_counted_all_the_same() -> None:
    profile = build_profile({"input": RNG.random((1_000, 8))})
    observed = ObservedModel(_Refusing(), DriftMonitor(profile, min_samples=1))
    rows = RNG.random((3, 8)).astype(np.float32)
    rows[:, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        observed.predict({"input": rows})
    assert observed.monitor.samples() == {"input": 3}
