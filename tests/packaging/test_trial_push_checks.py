"""Push refuses what the runtime could never serve, rather than storing a version whose every
load fails: outputs a tabular runtime cannot give, an input width the model file contradicts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skops.io
import xgboost as xgb
from sklearn.linear_model import LogisticRegression

from inferd.errors import InvalidArgument
from inferd.packaging import push
from inferd.store import ModelStore


@pytest.fixture
def store(inferd_home: Path) -> ModelStore:
    return ModelStore(inferd_home)


def _model(folder: Path, kind: str) -> Path:
    """A model of 4 features in ``folder``: an XGBoost booster or a scikit-learn classifier."""
    folder.mkdir()
    rng = np.random.default_rng(2)
    x = rng.normal(size=(40, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int)
    if kind == "xgboost":
        booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(x, label=y), 2)
        booster.save_model(str(folder / "model.json"))
    else:
        skops.io.dump(LogisticRegression().fit(x, y), folder / "model.skops")
    return folder


@pytest.mark.parametrize(
    ("kind", "outputs", "says"),
    [
        (
            "xgboost",
            "[{name: predictions, datatype: FP32, shape: [-1]}, "
            "{name: extra, datatype: FP32, shape: [-1]}]",
            "the xgboost runtime gives one output, what the booster predicts; the signature "
            "declares 2 (predictions, extra)",
        ),
        (
            "sklearn",
            "[{name: proba, datatype: FP32, shape: [-1, 2]}]",
            "the sklearn runtime cannot give output 'proba'; it gives the outputs named label "
            "(predict), predictions (predict), probabilities (predict_proba)",
        ),
    ],
    ids=["two booster outputs", "an sklearn output of no method"],
)
def test_outputs_the_runtime_cannot_give_are_refused_at_push(
    store: ModelStore, tmp_path: Path, kind: str, outputs: str, says: str
) -> None:
    """Both were stored, and every load of the version failed."""
    folder = _model(tmp_path / "model", kind)
    (folder / "inferd.model.yaml").write_text(f"outputs: {outputs}\n")
    with pytest.raises(InvalidArgument) as refused:
        push(store, folder, "tabular:v1")
    assert refused.value.message == says
    assert store.list() == []


@pytest.mark.parametrize("kind", ["xgboost", "sklearn"])
def test_an_input_width_the_model_file_contradicts_is_refused_at_push(
    store: ModelStore, tmp_path: Path, kind: str
) -> None:
    """Stored, then the warm-up failed every load (Feature shape mismatch, expected: 4, got 5)."""
    folder = _model(tmp_path / "model", kind)
    (tmp_path / "sig.yaml").write_text(
        "inputs: [{name: features, datatype: FP32, shape: [-1, 5]}]\n"
    )
    with pytest.raises(InvalidArgument) as refused:
        push(store, folder, "tabular:v1", metadata=tmp_path / "sig.yaml")
    model = "model.json" if kind == "xgboost" else "model.skops"
    assert refused.value.message == (
        f"sig.yaml: input 'features' is declared of shape [-1, 5], but {model!r} takes 4 "
        "features (declare [-1, 4])"
    )
    (tmp_path / "sig.yaml").write_text(
        "inputs: [{name: features, datatype: FP32, shape: [-1, 4]}]\n"
    )
    card = push(store, folder, "tabular:v1", metadata=tmp_path / "sig.yaml").card
    assert card.signature.inputs[0].name == "features"
