"""``--device cuda`` for an XGBoost model on a host without a GPU: XGBoost (built with CUDA)
logged a warning and ran on CPU, so a misconfigured GPU deployment served on, unnoticed; the
ONNX runtime refuses the same request. The xgboost runtime now refuses it too."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from inferd.card import ModelCard
from inferd.errors import Unsupported
from inferd.runtimes import LoadOptions, get_runtime

NO_GPU = not Path("/dev/nvidia0").exists()


@pytest.mark.skipif(
    not (NO_GPU and xgb.build_info().get("USE_CUDA", False)),
    reason="needs an XGBoost built with CUDA on a host without a GPU",
)
def test_cuda_on_a_host_without_a_gpu_is_refused(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(30, 3)).astype(np.float32)
    booster = xgb.train({"objective": "reg:squarederror"}, xgb.DMatrix(x, label=x[:, 0]), 2)
    booster.save_model(str(tmp_path / "model.json"))
    card = ModelCard(name="m", runtime="xgboost")
    with pytest.raises(Unsupported) as refused:
        get_runtime("xgboost").load(tmp_path, card, LoadOptions(device="cuda"))
    assert refused.value.message == (
        "device 'cuda' was requested but XGBoost finds no GPU here (it would run on CPU); "
        "use device 'cpu'"
    )
    model = get_runtime("xgboost").load(tmp_path, card, LoadOptions())
    assert model.predict({"input": x})["predictions"].shape == (30,)
