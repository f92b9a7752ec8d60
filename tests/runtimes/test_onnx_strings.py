"""BYTES inputs reach an ONNX string tensor as text, not as the repr of a bytes object."""

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from inferd.card import ModelCard
from inferd.runtimes.base import LoadOptions
from inferd.runtimes.onnx import OnnxRuntime


def _identity_model(path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["text"], ["out"])],
        "identity",
        [helper.make_tensor_value_info("text", TensorProto.STRING, [None])],
        [helper.make_tensor_value_info("out", TensorProto.STRING, [None])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


def test_bytes_inputs_are_decoded_for_string_tensors(tmp_path: Path) -> None:
    _identity_model(tmp_path / "model.onnx")
    model = OnnxRuntime().load(tmp_path, ModelCard(name="identity", runtime="onnx"), LoadOptions())
    out = model.predict({"text": np.array([b"grpc", b"rest"], dtype=object)})
    assert list(out["out"]) == ["grpc", "rest"]
