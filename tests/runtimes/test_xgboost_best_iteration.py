"""An XGBoost model trained with early stopping answers as its owner's model did: with the
trees up to the best iteration early stopping chose (what XGBoost's scikit-learn wrapper
predicts, and what XGBoost's documentation predicts a native booster with), not with the
rounds trained past it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from inferd.card import ModelCard
from inferd.runtimes import LoadOptions, get_runtime
from inferd.runtimes.detect import derive_signature


@pytest.fixture(scope="module")
def noisy() -> tuple[np.ndarray, np.ndarray]:
    """Rows whose label is mostly noise: early stopping stops well before the last round."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 4)).astype(np.float32)
    y = ((x[:, 0] + rng.normal(size=400)) > 0).astype(np.int64)
    return x, y


def _load(path: Path) -> object:
    card = ModelCard(name="m", runtime="xgboost")
    return get_runtime("xgboost").load(path, card, LoadOptions())


def test_a_scikit_learn_wrapper_answers_as_its_predict_proba(
    tmp_path: Path, noisy: tuple[np.ndarray, np.ndarray]
) -> None:
    x, y = noisy
    classifier = xgb.XGBClassifier(n_estimators=200, early_stopping_rounds=3, learning_rate=0.5)
    classifier.fit(x[:300], y[:300], eval_set=[(x[300:], y[300:])], verbose=False)
    booster = classifier.get_booster()
    assert classifier.best_iteration + 1 < booster.num_boosted_rounds()  # trained past it
    classifier.save_model(tmp_path / "model.json")
    model = _load(tmp_path)
    answer = model.predict({"input": x[:20]})["predictions"]  # type: ignore[attr-defined]
    np.testing.assert_allclose(answer, classifier.predict_proba(x[:20])[:, 1], rtol=1e-6)
    assert not np.allclose(answer, booster.inplace_predict(x[:20]))  # every tree: other answers


def test_a_native_booster_answers_with_its_best_iteration(
    tmp_path: Path, noisy: tuple[np.ndarray, np.ndarray]
) -> None:
    x, y = noisy
    booster = xgb.train(
        {"objective": "multi:softprob", "num_class": 2, "eta": 0.5},
        xgb.DMatrix(x[:300], label=y[:300]),
        200,
        evals=[(xgb.DMatrix(x[300:], label=y[300:]), "valid")],
        early_stopping_rounds=3,
        verbose_eval=False,
    )
    assert booster.best_iteration + 1 < booster.num_boosted_rounds()
    booster.save_model(tmp_path / "model.ubj")
    best = booster.inplace_predict(x[:20], iteration_range=(0, booster.best_iteration + 1))
    answer = _load(tmp_path).predict({"input": x[:20]})["predictions"]  # type: ignore[attr-defined]
    np.testing.assert_allclose(answer, best, rtol=1e-6)
    signature = derive_signature(tmp_path / "model.ubj", "xgboost")
    assert signature is not None
    assert signature.outputs[0].shape == (-1, 2)


def test_a_booster_without_early_stopping_answers_with_every_tree(
    tmp_path: Path, noisy: tuple[np.ndarray, np.ndarray]
) -> None:
    x, y = noisy
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(x, label=y), 10)
    booster.save_model(tmp_path / "model.json")
    answer = _load(tmp_path).predict({"input": x[:20]})["predictions"]  # type: ignore[attr-defined]
    np.testing.assert_allclose(answer, booster.inplace_predict(x[:20]), rtol=1e-6)


def test_a_linear_booster_is_pushed_and_served(
    tmp_path: Path, noisy: tuple[np.ndarray, np.ndarray]
) -> None:
    """gblinear has no inplace_predict ("Inplace predict is not supported by the current
    booster"): deriving its signature crashed push, and its warm-up failed every load."""
    x, y = noisy
    params = {"booster": "gblinear", "objective": "binary:logistic"}
    booster = xgb.train(params, xgb.DMatrix(x, label=y), 10)
    booster.save_model(tmp_path / "model.json")
    signature = derive_signature(tmp_path / "model.json", "xgboost")
    assert signature is not None
    assert signature.outputs[0].shape == (-1,)
    answer = _load(tmp_path).predict({"input": x[:20]})["predictions"]  # type: ignore[attr-defined]
    np.testing.assert_allclose(answer, booster.predict(xgb.DMatrix(x[:20])), rtol=1e-6)
