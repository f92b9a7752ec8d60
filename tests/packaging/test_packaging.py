"""inferd.packaging: the store stages (checks), packaging describes (card), the store commits."""

from __future__ import annotations

import pickle
import re
import shutil
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest
import xgboost as xgb

import inferd.packaging
from inferd.card import Datatype, Signature, TensorSpec
from inferd.errors import InvalidArgument, ModelNotFound, UnsafeFormat
from inferd.packaging import CardOptions, describe, push
from inferd.store import ModelStore

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ONNX_V1 = EXAMPLES / "quickstart" / "fraud-v1" / "model.onnx"


@pytest.fixture
def store(inferd_home: Path) -> ModelStore:
    return ModelStore(inferd_home)


def make_model_dir(path: Path) -> Path:
    """An estimator, raw weights (not admitted as data: staged only with trust) and a
    vocabulary."""
    (path / "assets").mkdir(parents=True)
    shutil.copyfile(EXAMPLES / "sklearn" / "fraud.skops", path / "model.skops")
    (path / "model.bin").write_bytes(bytes(range(256)) * 4)
    (path / "assets" / "vocab.txt").write_text("a\nb\n")
    (path / "inferd.model.yaml").write_text("runtime: sklearn\n")
    return path


def _blobs(store: ModelStore) -> set[Path]:
    return {path for path in (store.root / "store" / "blobs").rglob("*") if path.is_file()}


def test_exported_names() -> None:
    assert sorted(inferd.packaging.__all__) == sorted(
        [
            "METADATA_FILE",
            "CardOptions",
            "ModelMetadata",
            "describe",
            "load_metadata",
            "push",
            "source_date",
        ]
    )


def test_push_is_stage_describe_commit(store: ModelStore) -> None:
    staged = store.stage(ONNX_V1, "fraud:v1")
    card = describe(staged, CardOptions(labels={"team": "risk"}))
    assert (card.name, card.runtime, card.labels) == ("fraud", "onnx", {"team": "risk"})
    committed = store.commit(staged, card)
    pushed = push(store, ONNX_V1, "fraud:v2", labels={"team": "risk"})
    # The same files and card: the same version (the card holds no push time).
    assert committed.card == pushed.card
    assert committed.digest == pushed.digest == store.resolve("fraud:v1").digest


def test_staging_stores_nothing(store: ModelStore, tmp_path: Path) -> None:
    staged = store.stage(make_model_dir(tmp_path / "model"), "fraud:v1", trust_unsafe_format=True)
    assert [f.title for f in staged.files] == [
        "assets/vocab.txt",
        "inferd.model.yaml",
        "model.bin",
        "model.skops",
    ]
    assert staged.trusted_formats == ("unrecognised format",)
    assert _blobs(store) == set()
    with pytest.raises(ModelNotFound):
        store.resolve("fraud:v1")


def test_an_unsafe_file_is_refused_before_detection_reads_it(
    store: ModelStore, tmp_path: Path
) -> None:
    blob = tmp_path / "model.pkl"
    blob.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    # Detection would say "not a model in a format inferd recognises"; admission speaks first.
    with pytest.raises(UnsafeFormat):
        push(store, blob, "mystery:v1")
    assert _blobs(store) == set()


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"name": "other"}, "name 'other' (staged: 'fraud')"),
        (
            {"trusted_unsafe_formats": ()},
            "trusted_unsafe_formats [] (staged: ['unrecognised format'])",
        ),
    ],
)
def test_commit_refuses_a_card_that_does_not_describe_the_staged_files(
    store: ModelStore, tmp_path: Path, change: dict[str, object], problem: str
) -> None:
    staged = store.stage(make_model_dir(tmp_path / "model"), "fraud:v1", trust_unsafe_format=True)
    card = describe(staged, CardOptions()).model_copy(update=change)
    with pytest.raises(InvalidArgument, match=re.escape(problem)):
        store.commit(staged, card)
    assert _blobs(store) == set()
    with pytest.raises(ModelNotFound):
        store.resolve("fraud:v1")


def test_a_file_not_in_the_named_runtimes_format_is_refused_at_push(
    store: ModelStore, tmp_path: Path
) -> None:
    """Issue 12 item 6: random bytes pushed with ``--runtime onnx`` (trusted, since the store
    admits no such format) were stored, and every load then failed."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.onnx").write_bytes(bytes(range(7, 256)) * 16)
    for path in (model, model / "model.onnx"):
        with pytest.raises(InvalidArgument, match="a valid ONNX model") as info:
            push(store, path, "fraud:v1", runtime="onnx", trust_unsafe_format=True)
        assert "'model.onnx'" in info.value.message
        assert "its bytes are not protobuf" in info.value.message
    assert _blobs(store) == set()
    with pytest.raises(ModelNotFound):
        store.resolve("fraud:v1")


def _boosters(root: Path) -> dict[str, tuple[Path, Signature]]:
    """Boosters of 4 features, each beside the signature it answers with, saved in ``root``."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(60, 4)).astype(np.float32)
    two, three = (x[:, 0] > 0).astype(int), np.digitize(x[:, 0], [-0.5, 0.5])
    xgb_binary = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(x, label=two), 2)
    xgb_binary.save_model(str(root / "xgb-binary.json"))
    softprob = {"objective": "multi:softprob", "num_class": 3}
    xgb.train(softprob, xgb.DMatrix(x, label=three), 2).save_model(str(root / "xgb-softprob.ubj"))
    quiet = {"verbose": -1, "num_leaves": 3}
    lgb.train({"objective": "binary", **quiet}, lgb.Dataset(x, label=two), 2).save_model(
        root / "lgb-binary.txt"
    )
    multiclass = {"objective": "multiclass", "num_class": 3, **quiet}
    lgb.train(multiclass, lgb.Dataset(x, label=three), 2).save_model(root / "lgb-multiclass.txt")

    def signature(datatype: Datatype, *classes: int) -> Signature:
        return Signature(
            inputs=(TensorSpec(name="input", datatype="FP32", shape=(-1, 4)),),
            outputs=(TensorSpec(name="predictions", datatype=datatype, shape=(-1, *classes)),),
        )

    return {
        "xgb-binary.json": (root / "xgb-binary.json", signature("FP32")),
        "xgb-softprob.ubj": (root / "xgb-softprob.ubj", signature("FP32", 3)),
        "lgb-binary.txt": (root / "lgb-binary.txt", signature("FP64")),
        "lgb-multiclass.txt": (root / "lgb-multiclass.txt", signature("FP64", 3)),
    }


def test_a_booster_pushed_without_a_signature_gets_the_one_it_answers_with(
    store: ModelStore, tmp_path: Path
) -> None:
    """XGBoost and LightGBM got an empty signature: no feature count to check a request
    against (a 500 for a wrong one), never batched, no example request, no reference data."""
    for name, (file, signature) in _boosters(tmp_path).items():
        card = push(store, file, "booster:v1").card
        assert card.signature == signature, name
    file, _ = _boosters(tmp_path)["xgb-binary.json"]
    np.save(tmp_path / "train.npy", np.random.default_rng(1).normal(size=(50, 4)))
    profiled = push(store, file, "booster:v2", reference_data=tmp_path / "train.npy").card
    assert profiled.reference_profile is not None


def test_what_the_metadata_declares_of_a_boosters_signature_wins(
    store: ModelStore, tmp_path: Path
) -> None:
    model = tmp_path / "model"
    model.mkdir()
    file, derived = _boosters(tmp_path)["lgb-binary.txt"]
    shutil.copyfile(file, model / "model.txt")
    features = TensorSpec(name="features", datatype="FP32", shape=(-1, 4))
    (model / "inferd.model.yaml").write_text(
        "inputs: [{name: features, datatype: FP32, shape: [-1, 4]}]\n"
    )
    assert push(store, model, "booster:v1").card.signature == Signature(
        inputs=(features,), outputs=derived.outputs
    )
    (model / "inferd.model.yaml").write_text(
        "outputs: [{name: fraud, datatype: FP64, shape: [-1]}]\n"
    )
    fraud = TensorSpec(name="fraud", datatype="FP64", shape=(-1,))
    assert push(store, model, "booster:v2").card.signature == Signature(
        inputs=derived.inputs, outputs=(fraud,)
    )


@pytest.mark.parametrize(
    ("model", "inputs", "says"),
    [
        (
            "model.skops",
            "[{name: a, datatype: FP32, shape: [-1, 2]}, {name: b, datatype: FP32, shape: [-1]}]",
            "the sklearn runtime reads one input, a [rows, features] matrix; the signature "
            "declares 2 (a, b)",
        ),
        (
            "model.skops",
            "[{name: a, datatype: FP32, shape: [-1]}]",
            "the sklearn runtime reads one input, a [rows, features] matrix; the signature "
            "declares 'a' of shape [-1]",
        ),
        (
            "xgb-binary.json",
            "[{name: a, datatype: BYTES, shape: [-1, 4]}]",
            "the xgboost runtime reads numbers; the signature declares 'a' BYTES (declare it FP32)",
        ),
    ],
    ids=["several inputs", "not a matrix", "strings to a booster"],
)
def test_a_tabular_signature_its_runtime_cannot_take_is_refused_at_push(
    store: ModelStore, tmp_path: Path, model: str, inputs: str, says: str
) -> None:
    """The runtime read the first input only (requests had to carry the others for nothing),
    and a vector or strings failed every request."""
    folder = tmp_path / "model"
    folder.mkdir()
    if model == "model.skops":
        shutil.copyfile(EXAMPLES / "sklearn" / "fraud.skops", folder / model)
    else:
        shutil.copyfile(_boosters(tmp_path)[model][0], folder / model)
    (folder / "inferd.model.yaml").write_text(f"inputs: {inputs}\n")
    with pytest.raises(InvalidArgument) as refused:
        push(store, folder, "tabular:v1")
    assert refused.value.message == says
    assert _blobs(store) == set()
