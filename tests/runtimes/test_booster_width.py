"""A booster's card that leaves its width open (``[-1, -1]``, or no input declared) checks no
request's width: XGBoost's "Feature shape mismatch" and LightGBM's "The number of features in
data…" were 500s. The runtime now refuses another width as the client's mistake."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest
import xgboost as xgb

from inferd.card import ModelCard, Signature, TensorSpec
from inferd.errors import InvalidTensor
from inferd.runtimes import LoadOptions, get_runtime

X = np.random.default_rng(0).normal(size=(60, 5)).astype(np.float32)
Y = (X[:, 0] > 0).astype(int)


def _save(runtime: str, folder: Path) -> None:
    if runtime == "xgboost":
        booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(X, label=Y), 2)
        booster.save_model(str(folder / "model.json"))
    else:
        params = {"objective": "binary", "verbose": -1, "num_leaves": 3}
        lgb.train(params, lgb.Dataset(X, label=Y), 2).save_model(folder / "model.txt")


@pytest.mark.parametrize("runtime", ["xgboost", "lightgbm"])
@pytest.mark.parametrize("declared", [True, False], ids=["open width", "no signature"])
def test_another_width_is_the_clients_mistake(tmp_path: Path, runtime: str, declared: bool) -> None:
    _save(runtime, tmp_path)
    spec = TensorSpec(name="input", datatype="FP32", shape=(-1, -1))
    signature = Signature(inputs=(spec,)) if declared else Signature()
    card = ModelCard(name="m", runtime=runtime, signature=signature)
    model = get_runtime(runtime).load(tmp_path, card, LoadOptions())
    assert model.predict({"input": X[:2]})["predictions"].shape == (2,)
    with pytest.raises(InvalidTensor) as caught:
        model.predict({"input": X[:2, :4]})
    assert caught.value.message == ("tensor 'input': the model takes 5 features (columns), got 4")
