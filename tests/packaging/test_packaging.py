"""inferd.packaging: the store stages (checks), packaging describes (card), the store commits."""

from __future__ import annotations

import pickle
import re
import shutil
from pathlib import Path

import pytest

import inferd.packaging
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
