"""A scikit-learn model pushed without a signature gets the one its estimator tells: the width
and kind of its input, and what it answers a row with; where it cannot tell, push says so."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import skops.io
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from inferd.card import Signature, TensorSpec
from inferd.packaging import push
from inferd.store import ModelStore

NUMBERS = np.random.default_rng(5).normal(size=(40, 3))
CLASSES = (NUMBERS[:, 0] > 0).astype(np.int64)
MIXED = np.array([["red", "1.5"], ["green", "-0.5"], ["blue", "2.0"]] * 4, dtype=object)


@pytest.fixture
def store(inferd_home: Path) -> ModelStore:
    return ModelStore(inferd_home)


def _file(root: Path, name: str, estimator: object) -> Path:
    file = root / f"{name}.skops"
    skops.io.dump(estimator, file)
    return file


def test_a_classifier_and_a_regressor_of_numbers(store: ModelStore, tmp_path: Path) -> None:
    """Both got an empty signature: no width to check requests against, no example."""
    classifier = make_pipeline(StandardScaler(), LogisticRegression()).fit(NUMBERS, CLASSES)
    card = push(store, _file(tmp_path, "classifier", classifier), "classifier:v1").card
    assert card.signature == Signature(
        inputs=(TensorSpec(name="input", datatype="FP32", shape=(-1, 3)),),
        outputs=(
            TensorSpec(name="label", datatype="INT64", shape=(-1,)),
            TensorSpec(name="probabilities", datatype="FP64", shape=(-1, 2)),
        ),
    )
    regressor = LinearRegression().fit(NUMBERS, NUMBERS[:, :2])
    card = push(store, _file(tmp_path, "regressor", regressor), "regressor:v1").card
    assert card.signature.outputs == (
        TensorSpec(name="predictions", datatype="FP64", shape=(-1, 2)),
    )


def test_encoders_fitted_on_strings_make_a_bytes_input(store: ModelStore, tmp_path: Path) -> None:
    columns = ColumnTransformer(
        [("color", OneHotEncoder(handle_unknown="error"), [0]), ("size", StandardScaler(), [1])]
    )
    labels = np.array(["yes", "no", "no"] * 4)
    estimator = make_pipeline(columns, LogisticRegression()).fit(MIXED, labels)
    card = push(store, _file(tmp_path, "mixed", estimator), "mixed:v1").card
    assert card.signature == Signature(
        inputs=(TensorSpec(name="input", datatype="BYTES", shape=(-1, 2)),),
        outputs=(
            TensorSpec(name="label", datatype="BYTES", shape=(-1,)),
            TensorSpec(name="probabilities", datatype="FP64", shape=(-1, 2)),
        ),
    )


def _double(x: np.ndarray) -> np.ndarray:
    return 2 * x


def test_what_the_estimator_cannot_tell_push_says(
    store: ModelStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """It stored an empty signature without a word."""
    untold = Pipeline([("keep", "passthrough"), ("model", LogisticRegression())])
    untrusted = make_pipeline(FunctionTransformer(_double), LogisticRegression())
    files = {
        "untold": (untold.fit(NUMBERS, CLASSES), "Pipeline does not tell how many features"),
        "untrusted": (untrusted.fit(NUMBERS, CLASSES), "types skops does not trust by default"),
    }
    for name, (estimator, why) in files.items():
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="inferd.packaging"):
            card = push(store, _file(tmp_path, name, estimator), f"{name}:v1").card
        assert card.signature == Signature()
        (record,) = [r for r in caplog.records if r.name.startswith("inferd.packaging")]
        message = record.getMessage()
        assert message.startswith(f"{name}.skops: no signature derived: "), message
        assert why in message and "declares no inputs and outputs" in message, message
        assert "inferd.model.yaml" in message, message
