"""``--device auto`` is CUDA where onnxruntime can use it; runtimes that compute on the CPU
only (scikit-learn, LightGBM), and XGBoost where it finds no GPU (this machine has none), then
load on the CPU instead of refusing, while an explicit ``--device cuda`` still fails their
load, saying so."""

from __future__ import annotations

from pathlib import Path

import lightgbm
import numpy as np
import pytest
import skops.io
import xgboost
from sklearn.linear_model import LogisticRegression

from inferd.card import ModelCard
from inferd.errors import Unsupported
from inferd.runtimes import LoadOptions, get_runtime


def _sklearn(tmp_path: Path) -> ModelCard:
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    skops.io.dump(LogisticRegression().fit(x, np.arange(20) % 2), tmp_path / "model.skops")
    return ModelCard(name="m", runtime="sklearn", entrypoint="model.skops")


def _lightgbm(tmp_path: Path) -> ModelCard:
    x = np.random.default_rng(3).normal(size=(60, 3))
    booster = lightgbm.train({"verbose": -1}, lightgbm.Dataset(x, x[:, 0]), 2)
    booster.save_model(str(tmp_path / "model.txt"))
    return ModelCard(name="m", runtime="lightgbm", entrypoint="model.txt")


def _xgboost(tmp_path: Path) -> ModelCard:
    x = np.random.default_rng(3).normal(size=(60, 3))
    xgboost.train({}, xgboost.DMatrix(x, label=x[:, 0]), 2).save_model(str(tmp_path / "m.json"))
    return ModelCard(name="m", runtime="xgboost", entrypoint="m.json")


@pytest.mark.parametrize("make", [_sklearn, _lightgbm, _xgboost])
def test_auto_loads_on_the_cpu_where_the_runtime_finds_no_gpu(tmp_path: Path, make) -> None:  # type: ignore[no-untyped-def]
    card = make(tmp_path)
    runtime = get_runtime(card.runtime)
    with pytest.raises(Unsupported, match="CPU"):
        runtime.load(tmp_path, card, LoadOptions(device="cuda"))
    model = runtime.load(tmp_path, card, LoadOptions(device="cuda", device_auto=True))
    model.close()
