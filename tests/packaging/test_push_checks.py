"""Push refuses what the runtime could never serve, rather than storing a version whose every
load fails: outputs a tabular runtime cannot give, an input width the model file contradicts.
And an ONNX file declaring no rank for one tensor still gives the card what it does declare."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
import pytest
import skops.io
import xgboost as xgb
from onnx import TensorProto, helper
from sklearn.linear_model import LogisticRegression

from inferd.card import Signature, TensorSpec
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


def _onnx_without_output_rank(folder: Path) -> TensorSpec:
    """y = relu(x), x FP32 [batch, 3]; y declares its element type but no shape at all."""
    folder.mkdir()
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, folder / "model.onnx")
    return TensorSpec(name="x", datatype="FP32", shape=(-1, 3))


def test_an_onnx_output_of_no_rank_keeps_the_inputs_the_file_declares(
    store: ModelStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The whole signature was dropped, silently: no request checks, no batching, no warm-up;
    and outputs declared in inferd.model.yaml came without the inputs the file declares."""
    folder = tmp_path / "model"
    x = _onnx_without_output_rank(folder)
    with caplog.at_level(logging.WARNING, logger="inferd.packaging"):
        card = push(store, folder, "relu:v1").card
    assert card.signature == Signature(inputs=(x,))
    (record,) = [r for r in caplog.records if r.name.startswith("inferd.packaging")]
    assert record.getMessage() == (
        "model.onnx: no signature derived: ONNX output 'y' declares no shape, not even a rank; "
        "the card declares no outputs (declare them in inferd.model.yaml or with "
        "--signature FILE)"
    )
    (folder / "inferd.model.yaml").write_text(
        "outputs: [{name: y, datatype: FP32, shape: [-1, 3]}]\n"
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="inferd.packaging"):
        card = push(store, folder, "relu:v2").card
    y = TensorSpec(name="y", datatype="FP32", shape=(-1, 3))
    assert card.signature == Signature(inputs=(x,), outputs=(y,))
    assert not [r for r in caplog.records if r.name.startswith("inferd.packaging")]
