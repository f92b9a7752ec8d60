"""What a fitted scikit-learn estimator tells of its input's columns: the categories its
encoders were fitted on, mapped back to the input columns they read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import skops.io
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from inferd.card import ModelCard, Signature, TensorSpec
from inferd.runtimes import LoadOptions, get_runtime
from inferd.runtimes._sklearn_columns import column_categories, known_values, takes_strings
from inferd.runtimes.warmup import example_request, model_known_values, warmup_inputs

ROWS = np.array(
    [["1.5", "red", "small"], ["2.5", "green", "large"], ["0.5", "blue", "small"]] * 4,
    dtype=object,
)
LABELS = [1, 0, 0] * 4


def _mixed() -> object:
    """A number in column 0, strict encoders on columns 2 and 1 (in that order)."""
    encoders = ColumnTransformer(
        [
            ("size", OrdinalEncoder(handle_unknown="error"), [2]),
            ("color", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder()), [1]),
            ("number", StandardScaler(), [0]),
        ]
    )
    return make_pipeline(encoders, LogisticRegression()).fit(ROWS, LABELS)


def test_a_column_transformer_maps_categories_to_input_columns() -> None:
    estimator = _mixed()
    assert sorted(column_categories(estimator)) == [1, 2]
    assert known_values(estimator, 3) == (None, "blue", "large")
    assert takes_strings(estimator)


def test_an_estimator_without_encoders_knows_nothing() -> None:
    x = np.random.default_rng(0).normal(size=(20, 3))
    estimator = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, [0, 1] * 10)
    assert column_categories(estimator) == {}
    assert known_values(estimator, 3) == (None, None, None)
    assert not takes_strings(estimator)
    encoder = OneHotEncoder().fit(np.array([[1], [2]]))  # numeric categories: no string
    assert known_values(encoder, 1) == (None,) and not takes_strings(encoder)


def test_a_strict_pipeline_answers_its_own_example(tmp_path: Path) -> None:
    """The example (and warm-up) put "" in each BYTES column: an unknown category."""
    estimator = make_pipeline(OneHotEncoder(handle_unknown="error"), LogisticRegression()).fit(
        ROWS[:, 1:], LABELS
    )
    skops.io.dump(estimator, tmp_path / "model.skops")
    signature = Signature(inputs=(TensorSpec(name="item", datatype="BYTES", shape=(-1, 2)),))
    card = ModelCard(name="m", runtime="sklearn", signature=signature)
    model = get_runtime("sklearn").load(tmp_path, card, LoadOptions(trust_code=True))
    known = model_known_values(model)
    assert known == {"item": ("blue", "large")}
    (item,) = example_request(signature, rows=2, known=known)["inputs"]
    rows = np.array(item["data"], dtype=object).reshape(item["shape"])
    assert model.predict({"item": rows})["label"].shape == (2,)
    model.predict(warmup_inputs(signature, 1, known))
