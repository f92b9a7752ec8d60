"""sklearn (skops), XGBoost and LightGBM runtimes predict what their frameworks predict."""

from __future__ import annotations

import os
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest
import skops.io
import xgboost as xgb
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from inferd.card import ModelCard, Signature, TensorSpec
from inferd.datatypes import object_array
from inferd.errors import InvalidArgument, InvalidTensor, PermissionDenied, Unsupported
from inferd.runtimes import LoadOptions, get_runtime
from inferd.sandbox.model import SandboxedModel

from .conftest import tabular_card

Data = tuple[np.ndarray, np.ndarray]
CLASSIFIER_OUTPUTS = (
    TensorSpec(name="label", datatype="INT64", shape=(-1,)),
    TensorSpec(name="probabilities", datatype="FP32", shape=(-1, 2)),
)


# --- sklearn ---------------------------------------------------------------------------------


def test_sklearn_classifier_matches_predict_and_predict_proba(
    tmp_path: Path, tabular: Data
) -> None:
    x, y = tabular
    estimator = LogisticRegression().fit(x, y)
    skops.io.dump(estimator, tmp_path / "model.skops")
    card = tabular_card("sklearn", CLASSIFIER_OUTPUTS)
    model = get_runtime("sklearn").load(tmp_path, card, LoadOptions())
    outputs = model.predict({"features": x})
    np.testing.assert_array_equal(outputs["label"], estimator.predict(x))
    np.testing.assert_allclose(outputs["probabilities"], estimator.predict_proba(x), rtol=1e-6)


def test_sklearn_regressor_without_a_signature_uses_defaults(tmp_path: Path, tabular: Data) -> None:
    x, y = tabular
    estimator = Ridge().fit(x, y.astype(np.float64))
    skops.io.dump(estimator, tmp_path / "ridge.skops")
    model = get_runtime("sklearn").load(
        tmp_path, ModelCard(name="r", runtime="sklearn"), LoadOptions()
    )
    outputs = model.predict({"input": x})
    assert list(outputs) == ["predictions"]
    np.testing.assert_allclose(outputs["predictions"], estimator.predict(x))
    with pytest.raises(InvalidTensor, match="'input': missing from the request"):
        model.predict({"features": x})
    with pytest.raises(InvalidTensor, match="expected 2 dimensions"):
        model.predict({"input": x[0]})


@pytest.mark.parametrize("unknown", ["ignore", "error"])
def test_sklearn_reads_bytes_inputs_as_the_strings_it_was_fitted_on(
    tmp_path: Path, unknown: str
) -> None:
    """OIP BYTES arrive as bytes: an encoder fitted on str found every row an unknown category
    (labels all 0 with handle_unknown='ignore', a ValueError without)."""
    colors = np.array([["red"], ["green"], ["blue"]] * 4, dtype=object)
    estimator = make_pipeline(OneHotEncoder(handle_unknown=unknown), LogisticRegression())
    estimator.fit(colors, [1, 0, 0] * 4)
    skops.io.dump(estimator, tmp_path / "model.skops")
    color = TensorSpec(name="color", datatype="BYTES", shape=(-1, 1))
    card = ModelCard(name="c", runtime="sklearn", signature=Signature(inputs=(color,)))
    model = get_runtime("sklearn").load(tmp_path, card, LoadOptions())
    given = object_array([b"red", b"blue"], (2, 1))
    outputs = model.predict({"color": given})
    np.testing.assert_array_equal(outputs["label"], [1, 0])
    np.testing.assert_array_equal(outputs["label"], estimator.predict([["red"], ["blue"]]))
    with pytest.raises(InvalidArgument, match="tensor 'color': a string input must be UTF-8"):
        model.predict({"color": object_array([b"red", b"\xff"], (2, 1))})


def test_sklearn_untrusted_types_need_explicit_trust(tmp_path: Path, tabular: Data) -> None:
    x, y = tabular
    estimator = GradientBoostingClassifier(n_estimators=5, random_state=0).fit(x, y)
    skops.io.dump(estimator, tmp_path / "gb.skops")
    runtime = get_runtime("sklearn")
    card = ModelCard(name="gb", runtime="sklearn")
    with pytest.raises(PermissionDenied, match=r"do(es)? not trust by default \(sklearn\.tree"):
        runtime.load(tmp_path, card, LoadOptions())
    model = runtime.load(tmp_path, card, LoadOptions(trust_code=True))
    try:
        # Loading those types runs their code: in a sandbox worker, never the server (it ran
        # in the server's process, although trusted code is promised never to).
        assert isinstance(model, SandboxedModel)
        assert model.pid is not None and model.pid != os.getpid()
        outputs = model.predict({"input": x})
        np.testing.assert_array_equal(outputs["label"], estimator.predict(x))
        np.testing.assert_allclose(outputs["probabilities"], estimator.predict_proba(x))
        with pytest.raises(InvalidTensor, match="input"):  # a client's mistake, as it is
            model.predict({"input": x[:, :2]})
    finally:
        model.close()


def test_sklearn_refuses_cuda_and_outputs_it_cannot_give(tmp_path: Path, tabular: Data) -> None:
    x, y = tabular
    skops.io.dump(Ridge().fit(x, y.astype(np.float64)), tmp_path / "ridge.skops")
    runtime = get_runtime("sklearn")
    with pytest.raises(Unsupported, match="CPU only"):
        runtime.load(tmp_path, ModelCard(name="r", runtime="sklearn"), LoadOptions(device="cuda"))
    with pytest.raises(
        InvalidArgument,
        match=r"cannot give output 'probabilities': Ridge has no predict_proba; it gives the "
        r"outputs named label \(predict\), predictions \(predict\)$",
    ):
        runtime.load(tmp_path, tabular_card("sklearn", CLASSIFIER_OUTPUTS), LoadOptions())
    score = (TensorSpec(name="score", datatype="FP64", shape=(-1,)),)
    with pytest.raises(InvalidArgument, match=r"cannot give output 'score'; it gives the outputs"):
        runtime.load(tmp_path, tabular_card("sklearn", score), LoadOptions())


def test_sklearn_outputs_are_matched_by_name_not_position(tmp_path: Path, tabular: Data) -> None:
    """A card declaring only ``probabilities`` got predict's labels under that name."""
    x, _ = tabular
    y = np.digitize(x[:, 0], [-0.5, 0.5])
    estimator = LogisticRegression().fit(x, y)
    skops.io.dump(estimator, tmp_path / "model.skops")
    probabilities = TensorSpec(name="probabilities", datatype="FP32", shape=(-1, 3))
    label = TensorSpec(name="label", datatype="INT64", shape=(-1,))
    runtime = get_runtime("sklearn")
    for outputs in [(probabilities,), (probabilities, label)]:
        model = runtime.load(tmp_path, tabular_card("sklearn", outputs), LoadOptions())
        answer = model.predict({"features": x[:2]})
        assert list(answer) == [o.name for o in outputs]
        np.testing.assert_allclose(answer["probabilities"], estimator.predict_proba(x[:2]))
        if "label" in answer:
            np.testing.assert_array_equal(answer["label"], estimator.predict(x[:2]))


def test_corrupt_skops_is_an_invalid_argument(tmp_path: Path) -> None:
    (tmp_path / "m.skops").write_bytes(b"PK\x03\x04 truncated")
    card = ModelCard(name="m", runtime="sklearn", entrypoint="m.skops")
    with pytest.raises(InvalidArgument, match=r"'m\.skops' is not a valid skops model"):
        get_runtime("sklearn").load(tmp_path, card, LoadOptions())


# --- xgboost ---------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["json", "ubj"])
def test_xgboost_matches_booster_predict(tmp_path: Path, tabular: Data, suffix: str) -> None:
    x, y = tabular
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3}, xgb.DMatrix(x, label=y), num_boost_round=8
    )
    booster.save_model(str(tmp_path / f"model.{suffix}"))
    card = tabular_card("xgboost", (TensorSpec(name="fraud", datatype="FP32", shape=(-1,)),))
    model = get_runtime("xgboost").load(tmp_path, card, LoadOptions(intra_op_threads=1))
    outputs = model.predict({"features": x})
    np.testing.assert_allclose(outputs["fraud"], booster.predict(xgb.DMatrix(x)), rtol=1e-6)
    model.close()


def test_xgboost_multiclass_and_refusals(tmp_path: Path, tabular: Data) -> None:
    x, _ = tabular
    y = np.digitize(x[:, 0], [-0.5, 0.5])
    booster = xgb.train(
        {"objective": "multi:softprob", "num_class": 3}, xgb.DMatrix(x, label=y), num_boost_round=4
    )
    booster.save_model(str(tmp_path / "model.json"))
    runtime = get_runtime("xgboost")
    model = runtime.load(tmp_path, ModelCard(name="m", runtime="xgboost"), LoadOptions())
    np.testing.assert_allclose(
        model.predict({"input": x})["predictions"], booster.predict(xgb.DMatrix(x)), rtol=1e-6
    )
    with pytest.raises(InvalidArgument, match="at most 1 output"):
        runtime.load(tmp_path, tabular_card("xgboost", CLASSIFIER_OUTPUTS), LoadOptions())
    if not xgb.build_info().get("USE_CUDA", False):
        with pytest.raises(Unsupported, match="no CUDA support"):
            runtime.load(
                tmp_path, ModelCard(name="m", runtime="xgboost"), LoadOptions(device="cuda")
            )
    (tmp_path / "model.json").write_text('{"learner": {"broken": true}}')
    with pytest.raises(InvalidArgument, match=r"'model\.json' is not a valid XGBoost model"):
        runtime.load(tmp_path, ModelCard(name="m", runtime="xgboost"), LoadOptions())


# --- lightgbm --------------------------------------------------------------------------------


def test_lightgbm_matches_booster_predict(tmp_path: Path, tabular: Data) -> None:
    x, y = tabular
    params = {"objective": "binary", "num_leaves": 7, "verbose": -1, "seed": 1}
    booster = lgb.train(params, lgb.Dataset(x, label=y), num_boost_round=8)
    booster.save_model(tmp_path / "model.txt")
    card = tabular_card("lightgbm", (TensorSpec(name="score", datatype="FP64", shape=(-1,)),))
    model = get_runtime("lightgbm").load(tmp_path, card, LoadOptions())
    np.testing.assert_array_equal(model.predict({"features": x})["score"], booster.predict(x))
    model.close()


def test_lightgbm_refusals(tmp_path: Path) -> None:
    (tmp_path / "model.txt").write_text("tree\nversion=v4\nnot really a model\n")
    runtime = get_runtime("lightgbm")
    card = ModelCard(name="m", runtime="lightgbm")
    with pytest.raises(Unsupported, match="CPU only"):
        runtime.load(tmp_path, card, LoadOptions(device="cuda"))
    with pytest.raises(InvalidArgument, match=r"'model\.txt' is not a valid LightGBM model"):
        runtime.load(tmp_path, card, LoadOptions())


# --- all three -------------------------------------------------------------------------------


def _sklearn(tmp_path: Path, x: np.ndarray, y: np.ndarray) -> tuple[str, tuple[TensorSpec, ...]]:
    skops.io.dump(LogisticRegression().fit(x, y), tmp_path / "model.skops")
    return "sklearn", CLASSIFIER_OUTPUTS


def _xgboost(tmp_path: Path, x: np.ndarray, y: np.ndarray) -> tuple[str, tuple[TensorSpec, ...]]:
    params = {"objective": "multi:softprob", "num_class": 2}
    xgb.train(params, xgb.DMatrix(x, label=y), num_boost_round=2).save_model(
        str(tmp_path / "model.json")
    )
    return "xgboost", (TensorSpec(name="p", datatype="FP32", shape=(-1, 2)),)


def _lightgbm(tmp_path: Path, x: np.ndarray, y: np.ndarray) -> tuple[str, tuple[TensorSpec, ...]]:
    params = {"objective": "binary", "num_leaves": 3, "verbose": -1}
    lgb.train(params, lgb.Dataset(x, label=y), num_boost_round=2).save_model(tmp_path / "model.txt")
    return "lightgbm", (TensorSpec(name="p", datatype="FP64", shape=(-1,)),)


@pytest.mark.parametrize("make", [_sklearn, _xgboost, _lightgbm], ids=lambda f: f.__name__[1:])
def test_a_request_of_no_rows_gets_outputs_of_no_rows(tmp_path: Path, tabular: Data, make) -> None:
    """[0, n] is a valid request; scikit-learn refused it ("Found array with 0 sample(s)"),
    which reached the client as a 500."""
    x, y = tabular
    runtime, outputs = make(tmp_path, x, y)
    model = get_runtime(runtime).load(tmp_path, tabular_card(runtime, outputs), LoadOptions())
    full = model.predict({"features": x[:3]})
    empty = model.predict({"features": x[:0]})
    assert set(empty) == set(full)
    for name, array in empty.items():
        assert array.shape == (0, *full[name].shape[1:]), name
        assert array.dtype == full[name].dtype, name
    model.close()
