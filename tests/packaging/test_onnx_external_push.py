"""An ONNX model keeping its weights in external data files is pushed with them, or refused at
push: a version without them was stored, and failed every load (external data file missing).
And inputs or outputs the metadata declares beside the file's own are said to go unused."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from inferd.errors import InvalidArgument
from inferd.packaging import push
from inferd.store import ModelStore


@pytest.fixture
def store(inferd_home: Path) -> ModelStore:
    return ModelStore(inferd_home)


def _linear() -> onnx.ModelProto:
    """y = x @ W, x FP32 [batch, 4]."""
    weights = numpy_helper.from_array(np.ones((4, 2), dtype=np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])],
        [weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _save(directory: Path) -> Path:
    directory.mkdir()
    onnx.save(
        _linear(),
        directory / "model.onnx",
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
        size_threshold=0,
    )
    return directory / "model.onnx"


def test_the_model_file_alone_is_refused_naming_its_data_files(
    store: ModelStore, tmp_path: Path
) -> None:
    file = _save(tmp_path / "model")
    with pytest.raises(InvalidArgument) as refused:
        push(store, file, "linear:v1")
    assert refused.value.message == (
        "'model.onnx' keeps tensor data in other files ('weights.bin'), which a push of the "
        "file alone leaves out: push the directory holding them"
    )
    assert store.list() == []
    assert push(store, tmp_path / "model", "linear:v1").card.entrypoint == "model.onnx"


def test_a_directory_missing_a_data_file_is_refused(store: ModelStore, tmp_path: Path) -> None:
    file = _save(tmp_path / "model")
    (file.parent / "weights.bin").unlink()
    (file.parent / "README.md").write_text("# linear\n")
    with pytest.raises(InvalidArgument) as refused:
        push(store, file.parent, "linear:v1")
    assert refused.value.message == "ONNX external data file 'weights.bin' is missing"
    assert store.list() == []


def test_metadata_inputs_and_outputs_an_onnx_file_overrides_are_said_unused(
    store: ModelStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The file's own signature wins: declaring other names (or a subset of the outputs) in
    inferd.model.yaml went into no card, without a word."""
    folder = tmp_path / "model"
    folder.mkdir()
    onnx.save(_linear(), folder / "model.onnx")
    (folder / "inferd.model.yaml").write_text(
        "inputs: [{name: features, datatype: FP32, shape: [-1, 4]}]\n"
        "outputs: [{name: y, datatype: FP32, shape: [-1, 2]}]\n"
    )
    with caplog.at_level(logging.WARNING, logger="inferd.packaging"):
        card = push(store, folder, "linear:v1").card
    assert [spec.name for spec in card.signature.inputs] == ["x"]
    (record,) = [r for r in caplog.records if r.name.startswith("inferd.packaging")]
    assert record.getMessage() == (
        "inferd.model.yaml: its inputs are not used: model.onnx declares its own, which the "
        "card takes (inputs x FP32 [-1, 4])"
    )
    (folder / "inferd.model.yaml").write_text(
        "outputs: [{name: y, datatype: FP32, shape: [-1, 2]}]\n"
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="inferd.packaging"):
        push(store, folder, "linear:v2")
    assert not [r for r in caplog.records if r.name.startswith("inferd.packaging")]
