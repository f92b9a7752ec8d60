"""A multi-output classifier's predict_proba gives one [rows, classes] array per output: the
runtime took that list as [outputs, rows, classes], so push declared probabilities [-1, 1, 2]
and every batch of more than one row was a 500. Rows now come first: [rows, outputs, classes]."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import skops.io
from sklearn.linear_model import LogisticRegression
from sklearn.multioutput import MultiOutputClassifier

from inferd.card import Signature, TensorSpec
from inferd.packaging import push
from inferd.runtimes import LoadOptions, get_runtime
from inferd.serving.signature import SignatureCheck
from inferd.store import ModelStore

X = np.random.default_rng(3).normal(size=(40, 3))
Y = np.stack([(X[:, 0] > 0).astype(int), (X[:, 1] > 0).astype(int)], axis=1)


def test_probabilities_of_each_output_come_row_first(inferd_home: Path, tmp_path: Path) -> None:
    estimator = MultiOutputClassifier(LogisticRegression()).fit(X, Y)
    skops.io.dump(estimator, tmp_path / "model.skops")
    card = push(ModelStore(inferd_home), tmp_path / "model.skops", "multi:v1").card
    assert card.signature == Signature(
        inputs=(TensorSpec(name="input", datatype="FP32", shape=(-1, 3)),),
        outputs=(
            TensorSpec(name="label", datatype="INT64", shape=(-1, 2)),
            TensorSpec(name="probabilities", datatype="FP64", shape=(-1, 2, 2)),
        ),
    )
    model = get_runtime("sklearn").load(tmp_path, card, LoadOptions())
    rows = X[:5].astype(np.float32)
    answer = SignatureCheck("multi", card.signature).conform(model.predict({"input": rows}))
    expected = np.stack(estimator.predict_proba(rows), axis=1)
    np.testing.assert_allclose(answer["probabilities"], expected)
    assert answer["label"].tolist() == estimator.predict(rows).tolist()
