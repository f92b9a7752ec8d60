"""An ONNX model onnxruntime cannot run fails its load naming what it cannot run (the operator,
the opset, the IR version), never the store's paths; one failing at run time says why."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from inferd.card import ModelCard
from inferd.errors import InternalError, InvalidArgument
from inferd.runtimes import LoadOptions, get_runtime


def write(directory: Path, node: onnx.NodeProto, opsets: dict[str, int], ir: int = 8) -> Path:
    elem = TensorProto.STRING if node.op_type == "StringNormalizer" else TensorProto.FLOAT
    x = helper.make_tensor_value_info("x", elem, [1, 4])
    y = helper.make_tensor_value_info("y", elem, [1, 4])
    graph = helper.make_graph([node], "g", [x], [y])
    opset_imports = [helper.make_opsetid(domain, v) for domain, v in opsets.items()]
    model = helper.make_model(graph, opset_imports=opset_imports)
    model.ir_version = ir
    directory.mkdir()
    (directory / "model.onnx").write_bytes(model.SerializeToString())
    return directory


def load_error(directory: Path) -> str:
    card = ModelCard(name="m", runtime="onnx", entrypoint="model.onnx")
    with pytest.raises(InvalidArgument) as info:
        get_runtime("onnx").load(directory, card, LoadOptions())
    message = info.value.message
    assert str(directory) not in message
    # onnxruntime's C++ source locations and function names stay out
    assert "onnxruntime_src" not in message and "onnxruntime::" not in message
    assert "<lambda" not in message
    assert message.startswith("onnxruntime cannot load 'model.onnx': ")
    return message


@pytest.mark.parametrize(
    ("node", "opsets", "ir", "named"),
    [
        (
            helper.make_node("FancyOp", ["x"], ["y"], domain="com.acme"),
            {"": 17, "com.acme": 1},
            8,
            "com.acme:FancyOp",
        ),
        (helper.make_node("Frobnicate", ["x"], ["y"]), {"": 17}, 8, "Op registered for Frobnicate"),
        (helper.make_node("Relu", ["x"], ["y"]), {"": 99}, 8, "Opset 99"),
        (helper.make_node("Relu", ["x"], ["y"]), {"": 17}, 99, "IR version: 99"),
        (
            helper.make_node("Normalizer", ["x"], ["y"], domain="ai.onnx.ml", norm="L9"),
            {"": 17, "ai.onnx.ml": 3},
            8,
            "Invalid normalize value of L9",
        ),
        (
            helper.make_node(
                "StringNormalizer",
                ["x"],
                ["y"],
                case_change_action="LOWER",
                locale="xx_NOWHERE.UTF-8",
            ),
            {"": 17},
            8,
            "Failed to construct locale with name:xx_NOWHERE.UTF-8",
        ),
    ],
    ids=["custom-domain-op", "unknown-op", "future-opset", "future-ir", "bad-attribute", "locale"],
)
def test_the_load_error_names_what_onnxruntime_cannot_run(
    tmp_path: Path, node: onnx.NodeProto, opsets: dict[str, int], ir: int, named: str
) -> None:
    message = load_error(write(tmp_path / "model", node, opsets, ir))
    assert named in message


def test_a_graph_using_a_tensor_nothing_makes_names_it(tmp_path: Path) -> None:
    node = helper.make_node("Add", ["x", "nowhere"], ["y"])
    message = load_error(write(tmp_path / "model", node, {"": 17}))
    assert "nowhere" in message


def test_a_run_failure_says_what_onnxruntime_said(tmp_path: Path) -> None:
    """A model failing at run time (a Reshape the input's size does not divide) is the model's
    failure, a 500 to the client; its reason is onnxruntime's words, for the server log and
    the warm-up's note, where it was only "onnxruntime failed to run the model"."""
    shape = numpy_helper.from_array(np.array([-1, 4], dtype=np.int64), "shape")
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "shape"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "L"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["M", 4])],
        [shape],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    (tmp_path / "model.onnx").write_bytes(model.SerializeToString())
    card = ModelCard(name="m", runtime="onnx", entrypoint="model.onnx")
    loaded = get_runtime("onnx").load(tmp_path, card, LoadOptions())
    with pytest.raises(InternalError) as info:
        loaded.predict({"x": np.ones((1, 5), dtype=np.float32)})
    message = info.value.message
    assert message.startswith("onnxruntime failed to run the model: Non-zero status code ")
    assert "cannot be reshaped to the requested shape" in message
    assert "onnxruntime_src" not in message and "onnxruntime::" not in message
