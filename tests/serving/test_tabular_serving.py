"""sklearn, XGBoost and LightGBM models pushed to a real store and served through the real
runtimes: what a client sees of them (metadata, outputs, errors)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np
import pytest
import skops.io
import xgboost as xgb
import yaml
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline, make_union
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from inferd.card import Signature
from inferd.config import ServerSettings
from inferd.datatypes import object_array
from inferd.errors import InternalError, InvalidTensor
from inferd.observe.metrics import ServerMetrics
from inferd.packaging import push
from inferd.runtimes import LoadOptions, get_runtime, warmup_inputs
from inferd.runtimes.warmup import example_request
from inferd.serving.dataplane import ServingDataPlane
from inferd.serving.loading import MAX_CAUSE, _cause
from inferd.serving.manager import ModelManager
from inferd.serving.source import Loaders, StoreSource
from inferd.serving.types import InferRequest, Tensor
from inferd.store import ModelStore

FEATURES = 4
Scenario = Callable[[ServingDataPlane], Awaitable[None]]
FEATURES_INPUT = {"name": "features", "datatype": "FP32", "shape": [-1, FEATURES]}


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    x = rng.normal(size=(60, FEATURES)).astype(np.float32)
    return x, (x[:, 0] - x[:, 1] > 0).astype(np.int64)


def _folder(root: Path, name: str, metadata: dict[str, object] | None = None) -> Path:
    folder = root / name
    folder.mkdir()
    if metadata is not None:
        (folder / "inferd.model.yaml").write_text(yaml.safe_dump(metadata))
    return folder


def _serve(store: ModelStore, refs: list[str], scenario: Scenario, *, fails: bool = False) -> None:
    """Serve ``refs`` (each as its name, code trusted) through the real runtimes and run
    ``scenario``; every one loads, or with ``fails`` every one fails to."""

    async def main() -> None:
        settings, metrics = ServerSettings(), ServerMetrics()
        trusted = LoadOptions(trust_code=True)
        loaders = Loaders(StoreSource(store), get_runtime, warmup_inputs, trusted)
        manager = ModelManager(loaders, settings, metrics)
        plane = ServingDataPlane(manager, metrics, settings)
        try:
            failed = await manager.serve(refs)
            assert len(failed) == (len(refs) if fails else 0), failed
            await scenario(plane)
        finally:
            await plane.close()

    asyncio.run(main())


def test_an_xgboost_model_reports_the_format_it_serves_as_its_platform(tmp_path: Path) -> None:
    """A JSON model reported ``xgboost_ubj``: the platform was chosen by runtime, not file."""
    x, y = _data()
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(x, label=y), 2)
    store = ModelStore(tmp_path / "home")
    for suffix in ("json", "ubj"):
        folder = _folder(tmp_path, suffix)
        booster.save_model(str(folder / f"model.{suffix}"))
        push(store, folder, f"{suffix}:v1")

    async def scenario(plane: ServingDataPlane) -> None:
        assert plane.model_metadata("json").platform == "xgboost_json"
        assert plane.model_metadata("ubj").platform == "xgboost_ubj"

    _serve(store, ["json:v1", "ubj:v1"], scenario)


def test_a_signature_mistake_caught_at_warm_up_names_its_cause(tmp_path: Path) -> None:
    """The reason said only "the 'sklearn' runtime failed to load it (ValueError)"; the cause
    was in the server log alone. Push now refuses a width the model file contradicts, so the
    wrong signature is given as a whole (``signature=``, which push takes as it is, as a store
    filled by an older inferd holds it)."""
    x, y = _data()
    wide = {**FEATURES_INPUT, "shape": [-1, FEATURES + 1]}
    folder = _folder(tmp_path, "wide")
    skops.io.dump(LogisticRegression().fit(x, y), folder / "model.skops")
    store = ModelStore(tmp_path / "home")
    told = push(store, folder, "told:v1").card.signature
    signature = Signature.model_validate(
        {"inputs": [wide], "outputs": told.model_dump()["outputs"]}
    )
    push(store, folder, "wide:v1", signature=signature)

    async def scenario(plane: ServingDataPlane) -> None:
        (row,) = plane.repository_index()
        assert row.reason == (
            "its warm-up inference, on inputs shaped by its signature, failed (tensor "
            "'features': X has 5 features, but LogisticRegression is expecting 4 features as "
            "input)"
        )

    _serve(store, ["wide:v1"], scenario, fails=True)


def test_the_cause_in_a_reason_is_one_line_without_the_model_directory(tmp_path: Path) -> None:
    error = OSError(f"cannot read\n  {tmp_path}/model.json: {'x' * 400}")
    cause = _cause(error, tmp_path)
    assert cause.startswith("OSError: cannot read model.json: xxx") and cause.endswith("x…")
    assert str(tmp_path) not in cause and len(cause) == len("OSError: ") + MAX_CAUSE
    assert _cause(ValueError(), tmp_path) == "ValueError"


def test_a_pipeline_fitted_on_strings_answers_bytes_inputs_by_their_text(tmp_path: Path) -> None:
    """Every row was the unknown category (handle_unknown='ignore'); an encoder without it
    failed its warm-up on the empty string, an unknown category too, and never loaded."""
    colors = np.array([["red"], ["green"], ["blue"]] * 4, dtype=object)
    color = {"name": "color", "datatype": "BYTES", "shape": [-1, 1]}
    store = ModelStore(tmp_path / "home")
    for unknown in ("ignore", "error"):
        folder = _folder(tmp_path, unknown, {"inputs": [color]})
        estimator = make_pipeline(OneHotEncoder(handle_unknown=unknown), LogisticRegression())
        skops.io.dump(estimator.fit(colors, [1, 0, 0] * 4), folder / "model.skops")
        push(store, folder, f"{unknown}:v1")

    async def scenario(plane: ServingDataPlane) -> None:
        given = Tensor("color", "BYTES", object_array([b"red", b"blue"], (2, 1)))
        for name in ("ignore", "error"):
            response = await plane.infer(InferRequest(model=name, inputs=[given]))
            label = next(t for t in response.outputs if t.name == "label")
            np.testing.assert_array_equal(label.data, [1, 0])

    _serve(store, ["ignore:v1", "error:v1"], scenario)


def test_a_classifier_declaring_only_its_probabilities_answers_them(tmp_path: Path) -> None:
    """The card's one output got predict's labels, cast to float: shape [2], not [2, 3]."""
    x, _ = _data()
    y = np.digitize(x[:, 0], [-0.5, 0.5])
    estimator = LogisticRegression().fit(x, y)
    probabilities = {"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]}
    folder = _folder(tmp_path, "three", {"inputs": [FEATURES_INPUT], "outputs": [probabilities]})
    skops.io.dump(estimator, folder / "model.skops")
    store = ModelStore(tmp_path / "home")
    push(store, folder, "three:v1")

    async def scenario(plane: ServingDataPlane) -> None:
        given = Tensor("features", "FP32", x[:2])
        (answer,) = (await plane.infer(InferRequest(model="three", inputs=[given]))).outputs
        assert (answer.name, answer.datatype, answer.data.shape) == (
            "probabilities",
            "FP32",
            (2, 3),
        )
        np.testing.assert_allclose(answer.data, estimator.predict_proba(x[:2]), rtol=1e-6)

    _serve(store, ["three:v1"], scenario)


def _reasons(plane: ServingDataPlane) -> dict[str, str]:
    return {row.name: row.reason for row in plane.repository_index()}


def test_a_model_answering_contrary_to_its_signature_fails_its_load(tmp_path: Path) -> None:
    """Each was served as it came: BYTES labels declared INT64, probabilities of 3 classes
    declared [-1, 2] (answered [n, 3]), and softprob floats declared INT64 cast to zeros."""
    x, y = _data()
    store = ModelStore(tmp_path / "home")

    def declare(name: str, output: dict[str, object]) -> Path:
        return _folder(tmp_path, name, {"inputs": [FEATURES_INPUT], "outputs": [output]})

    words = np.array(["no", "yes"], dtype=object)[y]
    folder = declare("words", {"name": "label", "datatype": "INT64", "shape": [-1]})
    skops.io.dump(LogisticRegression().fit(x, words), folder / "model.skops")
    three = np.digitize(x[:, 0], [-0.5, 0.5])
    folder = declare("three", {"name": "probabilities", "datatype": "FP32", "shape": [-1, 2]})
    skops.io.dump(LogisticRegression().fit(x, three), folder / "model.skops")
    folder = declare("softprob", {"name": "predictions", "datatype": "INT64", "shape": [-1]})
    params = {"objective": "multi:softprob", "num_class": 3}
    xgb.train(params, xgb.DMatrix(x, label=three), 2).save_model(str(folder / "model.json"))
    for name in ("words", "three", "softprob"):
        push(store, tmp_path / name, f"{name}:v1")

    async def scenario(plane: ServingDataPlane) -> None:
        warm_up = "its warm-up inference, on inputs shaped by its signature, failed"
        assert _reasons(plane) == {
            "words": f"{warm_up} (model 'words' gave output 'label' as BYTES, declared INT64)",
            "three": f"{warm_up} (model 'three' gave output 'probabilities' of shape [1, 3], "
            "declared [-1, 2])",
            "softprob": f"{warm_up} (model 'softprob' gave output 'predictions' as FP32, "
            "declared INT64 (a cast would lose values))",
        }

    _serve(store, ["words:v1", "three:v1", "softprob:v1"], scenario, fails=True)


PYTHON_MODEL = """
import numpy as np

class Model:
    def predict(self, inputs):
        x = inputs["x"]
        score = x.astype(np.float64).sum(axis=1)  # declared FP32
        outputs = {"score": score, "debug": x}  # debug: not declared
        if (x < 100).all():  # a row from 100 up: the declared label is left out
            outputs["label"] = (score > 0).astype(np.int64)
        return outputs
"""


def test_a_model_answering_contrary_to_its_signature_is_a_500_naming_it(tmp_path: Path) -> None:
    """A python model's float64 went out as FP64 although FP32 was declared, its undeclared
    output went out too, and a declared output it left out was a 400 (counted as the client's
    error): "gave no output of that name"."""
    x = {"name": "x", "datatype": "FP32", "shape": [-1, 2]}
    outputs = [
        {"name": "label", "datatype": "INT64", "shape": [-1]},
        {"name": "score", "datatype": "FP32", "shape": [-1]},
    ]
    folder = _folder(
        tmp_path,
        "py",
        {"runtime": "python", "entrypoint": "model:Model", "inputs": [x], "outputs": outputs},
    )
    (folder / "model.py").write_text(PYTHON_MODEL)
    store = ModelStore(tmp_path / "home")
    push(store, folder, "py:v1")

    async def scenario(plane: ServingDataPlane) -> None:
        given = np.array([[1, 2], [-3, -4]], dtype=np.float32)
        response = await plane.infer(InferRequest("py", [Tensor("x", "FP32", given)]))
        answer = {t.name: (t.datatype, t.data.tolist()) for t in response.outputs}
        assert answer == {"label": ("INT64", [1, 0]), "score": ("FP32", [3.0, -7.0])}
        with pytest.raises(InternalError, match=r"^py:v1 failed to run the batch"):
            await plane.infer(InferRequest("py", [Tensor("x", "FP32", given + 100)]))
        (stats,) = plane.model_stats("py")
        assert (stats.inference_stats.success.count, stats.inference_stats.fail.count) == (1, 1)

    _serve(store, ["py:v1"], scenario)


def test_a_booster_pushed_without_a_signature_is_checked_and_batched(tmp_path: Path) -> None:
    """With the empty signature it got, a wrong feature count was a 500, a request of 50 rows
    counted as 1 row, and the example request (``{"inputs": []}``) failed."""
    x, y = _data()
    store = ModelStore(tmp_path / "home")
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(x, label=y), 2)
    booster.save_model(str(tmp_path / "model.json"))
    push(store, tmp_path / "model.json", "booster:v1")

    async def scenario(plane: ServingDataPlane) -> None:
        wide = Tensor("input", "FP32", np.zeros((1, FEATURES + 1), dtype=np.float32))
        with pytest.raises(InvalidTensor, match=r"expected shape \[-1, 4\] but got \[1, 5\]"):
            await plane.infer(InferRequest("booster", [wide]))
        response = await plane.infer(InferRequest("booster", [Tensor("input", "FP32", x[:50])]))
        (predictions,) = response.outputs
        np.testing.assert_allclose(predictions.data, booster.predict(xgb.DMatrix(x[:50])))
        (stats,) = plane.model_stats("booster")
        assert (stats.inference_count, stats.execution_count) == (50, 1)
        signature = Signature(inputs=plane.model_metadata("booster").inputs)
        (example,) = example_request(signature)["inputs"]
        data = np.array(example["data"], dtype=np.float32).reshape(example["shape"])
        await plane.infer(InferRequest("booster", [Tensor("input", example["datatype"], data)]))

    _serve(store, ["booster:v1"], scenario)


def test_an_unknown_category_to_a_nested_strict_encoder_is_the_clients_mistake(
    tmp_path: Path,
) -> None:
    """scikit-learn's ValueError for a category a strict encoder was not fitted on was a 500
    (InternalError). An encoder nested where the runtime does not look for categories (a
    FeatureUnion) refuses the empty strings of its warm-up: the version still serves."""
    colors = np.array([["red"], ["green"], ["blue"]] * 4, dtype=object)
    store = ModelStore(tmp_path / "home")
    strict = OneHotEncoder(handle_unknown="error")
    nested = make_pipeline(make_union(strict, OrdinalEncoder()), LogisticRegression())
    folder = _folder(
        tmp_path, "nested", {"inputs": [{"name": "color", "datatype": "BYTES", "shape": [-1, 1]}]}
    )
    skops.io.dump(nested.fit(colors, [1, 0, 0] * 4), folder / "model.skops")
    push(store, folder, "nested:v1")

    async def scenario(plane: ServingDataPlane) -> None:
        purple = Tensor("color", "BYTES", object_array([b"red", b"purple"], (2, 1)))
        with pytest.raises(InvalidTensor, match="tensor 'color': Found unknown categories"):
            await plane.infer(InferRequest(model="nested", inputs=[purple]))
        red = Tensor("color", "BYTES", object_array([b"red"], (1, 1)))
        response = await plane.infer(InferRequest(model="nested", inputs=[red]))
        assert next(t for t in response.outputs if t.name == "label").data.tolist() == [1]

    _serve(store, ["nested:v1"], scenario)


def test_an_estimator_pushed_without_a_signature_is_checked_and_answers_its_labels(
    tmp_path: Path,
) -> None:
    """With the empty signature it got, a wrong feature count was a 500 and the metadata told
    a client nothing; strings in, string labels out, as derived at push."""
    rows = np.array([["red", "1.5"], ["green", "-0.5"], ["blue", "2.0"]] * 4, dtype=object)
    columns = ColumnTransformer(
        [("color", OneHotEncoder(handle_unknown="error"), [0]), ("size", StandardScaler(), [1])]
    )
    estimator = make_pipeline(columns, LogisticRegression())
    estimator.fit(rows, np.array(["yes", "no", "no"] * 4))
    store = ModelStore(tmp_path / "home")
    skops.io.dump(estimator, tmp_path / "model.skops")
    push(store, tmp_path / "model.skops", "mixed:v1")

    async def scenario(plane: ServingDataPlane) -> None:
        metadata = plane.model_metadata("mixed")
        assert [(t.name, t.datatype, list(t.shape)) for t in metadata.inputs] == [
            ("input", "BYTES", [-1, 2])
        ]
        wide = Tensor("input", "BYTES", object_array([b"red", b"1", b"2"], (1, 3)))
        with pytest.raises(InvalidTensor, match=r"expected shape \[-1, 2\] but got \[1, 3\]"):
            await plane.infer(InferRequest("mixed", [wide]))
        given = Tensor("input", "BYTES", object_array([b"red", b"1.5", b"blue", b"2"], (2, 2)))
        response = await plane.infer(InferRequest("mixed", [given]))
        label = next(t for t in response.outputs if t.name == "label")
        assert label.datatype == "BYTES" and label.data.ravel().tolist() == ["yes", "no"]

    _serve(store, ["mixed:v1"], scenario)
