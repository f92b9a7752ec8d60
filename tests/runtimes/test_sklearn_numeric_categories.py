"""A strict OneHotEncoder fitted on numbers (integer-coded categories: a region id, a day of
the week) refuses the zeros of a warm-up: push derived no signature and a version declaring one
never loaded ("column 0 holds 0.0, not among the categories the model was fitted on there").
The warm-up, the example request and push now put a category the encoder knows there."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import skops.io
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from inferd.card import ModelCard, Signature, TensorSpec
from inferd.runtimes import LoadOptions, get_runtime
from inferd.runtimes.detect import derive_signature
from inferd.runtimes.warmup import example_request, model_known_values, warmup_inputs

ROWS = np.array([[1, 0], [2, 1], [3, 0], [1, 1]] * 5, dtype=np.float32)
INPUT = TensorSpec(name="input", datatype="FP32", shape=(-1, 2))


def _dump(tmp_path: Path) -> Path:
    estimator = make_pipeline(OneHotEncoder(handle_unknown="error"), LogisticRegression())
    skops.io.dump(estimator.fit(ROWS, [0, 1, 1, 0] * 5), tmp_path / "model.skops")
    return tmp_path / "model.skops"


def test_push_derives_the_signature(tmp_path: Path) -> None:
    signature = derive_signature(_dump(tmp_path), "sklearn")
    assert signature is not None
    assert signature.inputs == (INPUT,)
    assert [spec.name for spec in signature.outputs] == ["label", "probabilities"]


def test_the_warm_up_and_the_example_send_categories_it_knows(tmp_path: Path) -> None:
    _dump(tmp_path)
    card = ModelCard(name="m", runtime="sklearn", signature=Signature(inputs=(INPUT,)))
    model = get_runtime("sklearn").load(tmp_path, card, LoadOptions())
    known = model_known_values(model)
    warm = warmup_inputs(card.signature, 2, known)
    np.testing.assert_array_equal(warm["input"], [[1.0, 0.0], [1.0, 0.0]])
    assert model.predict(warm)["label"].shape == (2,)
    (example,) = example_request(card.signature, known=known)["inputs"]
    assert example["data"] == [1.0, 0.0]
    rng = np.random.default_rng(0)
    (random,) = example_request(card.signature, rows=3, rng=rng, known=known)["inputs"]
    assert random["data"][0::2] == [1.0, 1.0, 1.0]
    assert random["data"][1::2] == [0.0, 0.0, 0.0]


def test_an_integer_input_gets_integers(tmp_path: Path) -> None:
    _dump(tmp_path)
    spec = TensorSpec(name="input", datatype="INT64", shape=(-1, 2))
    card = ModelCard(name="m", runtime="sklearn", signature=Signature(inputs=(spec,)))
    model = get_runtime("sklearn").load(tmp_path, card, LoadOptions())
    known = model_known_values(model)
    (example,) = example_request(card.signature, known=known)["inputs"]
    assert example["data"] == [1, 0]
    assert all(type(value) is int for value in example["data"])
    assert model.predict(warmup_inputs(card.signature, 1, known))["label"].shape == (1,)
