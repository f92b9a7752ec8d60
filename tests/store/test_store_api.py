"""The public ModelStore API: push (detection, metadata), resolve, tag, list, materialize."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

import inferd.store
from inferd.card import Signature, TensorSpec
from inferd.errors import InvalidArgument, ModelNotFound, NotFound, UnsafeFormat, Unsupported
from inferd.packaging import push
from inferd.store import ModelStore

from .conftest import EXAMPLES

ONNX_V1 = EXAMPLES / "quickstart" / "fraud-v1" / "model.onnx"


def test_exported_names() -> None:
    assert sorted(inferd.store.__all__) == sorted(
        [
            "GcResult",
            "HistoryEvent",
            "MaterializedModel",
            "ModelStore",
            "PushResult",
            "Reference",
            "ResolvedModel",
            "Staged",
            "TagEntry",
        ]
    )


def test_onnx_runtime_and_signature_are_detected(store: ModelStore) -> None:
    pushed = push(store, ONNX_V1, "fraud:v1")
    assert pushed.card.runtime == "onnx"
    assert pushed.card.entrypoint == "model.onnx"
    assert [(s.name, s.datatype, s.shape) for s in pushed.card.signature.inputs] == [
        ("input", "FP32", (-1, 8))
    ]
    assert {s.name for s in pushed.card.signature.outputs} == {"label", "probabilities"}
    assert pushed.files == 1
    assert pushed.size == ONNX_V1.stat().st_size


def test_skops_directory_takes_its_signature_from_inferd_model_yaml(
    store: ModelStore, tmp_path: Path
) -> None:
    directory = shutil.copytree(EXAMPLES / "sklearn", tmp_path / "sk")
    pushed = push(store, directory, "fraud-sk:v1")
    assert pushed.card.runtime == "sklearn"
    assert pushed.card.signature.inputs
    assert pushed.card.entrypoint == "fraud.skops"
    # Without the YAML, the skops format alone still tells the runtime.
    lone = tmp_path / "lone"
    lone.mkdir()
    shutil.copy(directory / "fraud.skops", lone / "fraud.skops")
    assert push(store, lone / "fraud.skops", "fraud-sk:v2").card.runtime == "sklearn"


def test_explicit_signature_and_labels_win(store: ModelStore, model_dir: Path) -> None:
    signature = Signature(inputs=(TensorSpec(name="z", datatype="FP64", shape=(-1, 3)),))
    pushed = push(
        store,
        model_dir,
        "fraud:v1",
        signature=signature,
        labels={"team": "platform", "stage": "dev"},
        source_revision="abc123",
    )
    card = store.resolve("fraud:v1").card
    assert card == pushed.card
    assert card.signature == signature
    assert card.labels == {"team": "platform", "stage": "dev"}
    assert card.source_revision == "abc123"


def test_unknown_format_without_runtime_is_refused(store: ModelStore, tmp_path: Path) -> None:
    blob = tmp_path / "mystery.bin"
    blob.write_text("data, but not a known model format")
    with pytest.raises(InvalidArgument, match="--runtime"):
        push(store, blob, "mystery:v1")
    # A named runtime that loads a file format holds the file to it (issue 12 item 6); the
    # python runtime (the user's code reads the files) takes them as they are.
    with pytest.raises(InvalidArgument, match=r"'mystery\.bin' is not a valid skops model"):
        push(store, blob, "mystery:v1", runtime="sklearn")
    assert push(store, blob, "mystery:v1", runtime="python").card.runtime == "python"
    # Bytes in no format the store admits as data are refused before detection, unless trusted.
    blob.write_bytes(b"\x00\x01 not a known model format")
    with pytest.raises(UnsafeFormat, match="--trust-unsafe-format"):
        push(store, blob, "mystery:v2", runtime="python")
    pushed = push(store, blob, "mystery:v2", runtime="python", trust_unsafe_format=True)
    assert pushed.card.trusted_unsafe_formats == ("unrecognised format",)


def test_metadata_errors_name_the_field(store: ModelStore, model_dir: Path, tmp_path: Path) -> None:
    (model_dir / "inferd.model.yaml").write_text(
        "inputs:\n  - {name: x, datatype: FLOAT99, shape: [1]}\nunknown_key: 1\n"
    )
    with pytest.raises(InvalidArgument) as info:
        push(store, model_dir, "fraud:v1", runtime="sklearn")
    assert "inputs.0.datatype" in info.value.message
    assert "unknown_key" in info.value.message
    assert "inferd.model.yaml" in info.value.message

    other = tmp_path / "sig.yaml"
    other.write_text(
        "runtime: sklearn\noutputs:\n  - {name: predictions, datatype: FP32, shape: [-1]}\n"
    )
    pushed = push(store, model_dir, "fraud:v1", metadata=other)
    assert [s.name for s in pushed.card.signature.outputs] == ["predictions"]


def test_references_the_local_store_refuses(store: ModelStore, model_dir: Path) -> None:
    with pytest.raises(Unsupported, match=r"registry 'ghcr\.io'"):
        push(store, model_dir, "ghcr.io/acme/fraud:v1")
    with pytest.raises(InvalidArgument, match="takes name:tag, not a digest"):
        push(store, model_dir, "fraud@sha256:" + "a" * 64)
    push(store, model_dir, "fraud:v1")
    with pytest.raises(InvalidArgument, match="one model name"):
        store.tag("fraud:v1", "other:v1")
    with pytest.raises(ModelNotFound):
        store.untag("fraud:v9")
    with pytest.raises(NotFound):
        push(store, model_dir / "missing", "fraud:v2")


def test_tag_list_and_progress(store: ModelStore, model_dir: Path, tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    v1 = push(
        store, model_dir, "fraud:v1", progress=lambda done, total: calls.append((done, total))
    )
    assert calls and calls[-1][0] == calls[-1][1] == v1.size
    push(store, ONNX_V1, "other:v1")
    moved = store.tag("fraud:v1", "fraud:prod")
    assert moved.digest == v1.digest
    assert str(moved.reference) == "fraud:prod"
    rows = [(e.name, e.tag, e.runtime, e.size) for e in store.list()]
    assert rows == [
        ("fraud", "prod", "sklearn", v1.size),
        ("fraud", "v1", "sklearn", v1.size),
        ("other", "v1", "onnx", ONNX_V1.stat().st_size),
    ]
    assert [e.tag for e in store.list("fraud")] == ["prod", "v1"]
    assert store.list("nobody") == []


def test_materialize_is_content_addressed_and_read_only(store: ModelStore, model_dir: Path) -> None:
    pushed = push(store, model_dir, "fraud:v1")
    store.tag("fraud:v1", "fraud:prod")
    first = store.materialize("fraud:v1")
    again = store.materialize(f"fraud@{pushed.digest}")
    assert first.path == again.path == store.root / "models" / pushed.digest[len("sha256:") :]
    assert first.card == pushed.card
    assert first.size == pushed.size
    weights = first.path / "model.bin"
    assert weights.read_bytes() == (model_dir / "model.bin").read_bytes()
    assert stat.S_IMODE(weights.stat().st_mode) == 0o444
