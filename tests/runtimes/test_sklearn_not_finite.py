"""An estimator that takes NaN (an imputer first) but refuses infinity: the refusal names the
infinity the client sent, not a NaN before it that the model takes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import skops.io
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from inferd.card import ModelCard, Signature, TensorSpec
from inferd.errors import InvalidTensor
from inferd.runtimes import LoadOptions, get_runtime


def test_the_infinity_refused_is_named_not_an_earlier_nan(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    estimator = make_pipeline(SimpleImputer(), LogisticRegression()).fit(x, [0, 1] * 10)
    skops.io.dump(estimator, tmp_path / "model.skops")
    spec = TensorSpec(name="input", datatype="FP32", shape=(-1, 3))
    card = ModelCard(name="m", runtime="sklearn", signature=Signature(inputs=(spec,)))
    # SimpleImputer holds types skops does not trust by default: it loads in a worker.
    model = get_runtime("sklearn").load(tmp_path, card, LoadOptions(trust_code=True))
    try:
        rows = np.zeros((2, 3), dtype=np.float32)
        rows[0, 0] = np.nan  # imputed: the model takes it
        assert model.predict({"input": rows})["label"].shape == (2,)
        rows[1, 2] = -np.inf
        try:
            model.predict({"input": rows})
        except InvalidTensor as caught:
            message = caught.message
        else:
            raise AssertionError("infinity was taken")
    finally:
        model.close()
    assert message == (
        "tensor 'input': row 1, column 2 holds -inf, which the model does not take "
        "(scikit-learn: Input X contains infinity or a value too large for dtype('float32').)"
    )
