"""Small real models, made with each framework's own code in temporary directories."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from inferd.card import ModelCard, Signature, TensorSpec
from inferd.config import SandboxSettings
from inferd.runtimes import LoadOptions, get_runtime
from inferd.sandbox.model import SandboxedModel

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FEATURES = 4


@pytest.fixture(scope="session")
def tabular() -> tuple[np.ndarray, np.ndarray]:
    """200 rows of 4 float32 features and a binary label that depends on them."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(200, FEATURES)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] - x[:, 2] > 0).astype(np.int64)
    return x, y


def tabular_card(runtime: str, outputs: tuple[TensorSpec, ...] = (), **kw: object) -> ModelCard:
    signature = Signature(
        inputs=(TensorSpec(name="features", datatype="FP32", shape=(-1, FEATURES)),),
        outputs=outputs,
    )
    return ModelCard(name="m", runtime=runtime, signature=signature, **kw)  # type: ignore[arg-type]


def linear_onnx(
    *,
    initializers_as_inputs: bool = False,
    extra_initializers: int = 0,
    unknown_rank_output: bool = False,
) -> onnx.ModelProto:
    """y = x @ W + b with a symbolic batch dim, plus a BOOL passthrough and an INT64 argmax."""
    rng = np.random.default_rng(3)
    weights = numpy_helper.from_array(rng.normal(size=(FEATURES, 3)).astype(np.float32), "W")
    bias = numpy_helper.from_array(rng.normal(size=(3,)).astype(np.float32), "b")
    extras = [
        numpy_helper.from_array(np.full((8,), i, dtype=np.float32), f"unused_{i}")
        for i in range(extra_initializers)
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["xw"]),
        helper.make_node("Add", ["xw", "b"], ["y"]),
        helper.make_node("ArgMax", ["y"], ["cls"], axis=1, keepdims=0),
        helper.make_node("Identity", ["flag"], ["flag_out"]),
    ]
    inputs = [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", FEATURES]),
        helper.make_tensor_value_info("flag", TensorProto.BOOL, ["batch", None]),
    ]
    if initializers_as_inputs:  # the IR < 4 convention: weights also listed as graph inputs
        inputs += [
            helper.make_tensor_value_info(t.name, t.data_type, t.dims)
            for t in [weights, bias, *extras]
        ]
    outputs = [
        helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3]),
        helper.make_tensor_value_info("cls", TensorProto.INT64, ["batch"]),
        helper.make_tensor_value_info(
            "flag_out", TensorProto.BOOL, None if unknown_rank_output else ["batch", "n"]
        ),
    ]
    graph = helper.make_graph(nodes, "linear", inputs, outputs, [weights, bias, *extras])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if not unknown_rank_output:  # the checker insists on a shape for graph outputs
        onnx.checker.check_model(model)
    return model


@pytest.fixture
def linear_model_dir(tmp_path: Path) -> Path:
    """A directory holding linear.onnx."""
    directory = tmp_path / "linear"
    directory.mkdir()
    onnx.save(linear_onnx(), directory / "linear.onnx")
    return directory


def sandboxed_python(directory: Path, source: str) -> SandboxedModel:
    """``source`` as ``directory/model.py`` (class ``Model``), loaded trusted in its sandbox
    worker; the caller closes it."""
    (directory / "model.py").write_text(source)
    options = LoadOptions(trust_code=True, sandbox=SandboxSettings())
    card = ModelCard(name="m", runtime="python", entrypoint="model:Model")
    loaded = get_runtime("python").load(directory, card, options)
    assert isinstance(loaded, SandboxedModel)
    return loaded
