"""Faulty fraud candidates, made in code from examples/quickstart/fraud-v1 (nothing downloaded).

Each wraps the v1 graph: the ``input`` tensor passes through extra nodes before the classifier,
or the ``label`` output through extra nodes after it. Faults depend on the first feature, so a
client sending features uniform in [0, 1) controls how often they show, and warm-up (zeros)
never trips them.

* ``erroring`` — a Reshape that cannot succeed when feature 0 > 0.95: ~5% of requests fail;
* ``slow`` — an extra 1024x1024 matrix product per request: several times v1's latency;
* ``divergent`` — the label flipped when feature 0 < 0.3: 30% of answers differ from v1's;
* ``unloadable`` — a valid graph with an operator onnxruntime does not have: it never loads.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[3]
V1 = ROOT / "examples" / "quickstart" / "fraud-v1" / "model.onnx"
FEATURES = 8


def _const(name: str, value: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(value, name)


def _first_feature(nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto]) -> str:
    """Nodes giving ``x0``: feature 0 of every row, shape [B]."""
    inits += [
        _const("c_start", np.array([0], np.int64)),
        _const("c_end", np.array([1], np.int64)),
        _const("c_axis", np.array([1], np.int64)),
        _const("c_flat", np.array([-1], np.int64)),
    ]
    nodes += [
        helper.make_node("Slice", ["input", "c_start", "c_end", "c_axis"], ["x0_col"]),
        helper.make_node("Reshape", ["x0_col", "c_flat"], ["x0"]),
    ]
    return "x0"


def _wrap_input(
    build: Callable[[list[onnx.NodeProto], list[onnx.TensorProto]], str],
) -> onnx.ModelProto:
    """v1 whose classifier reads the tensor ``build`` produces instead of ``input``."""
    model = onnx.load(V1)
    graph = model.graph
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    checked = build(nodes, inits)
    for node in graph.node:
        node.input[:] = [checked if name == "input" else name for name in node.input]
    original = list(graph.node)
    del graph.node[:]
    graph.node.extend([*nodes, *original])
    graph.initializer.extend(inits)
    return model


def erroring() -> onnx.ModelProto:
    def build(nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto]) -> str:
        x0 = _first_feature(nodes, inits)
        inits += [
            _const("c_limit", np.array(0.95, np.float32)),
            _const("c_width", np.array([FEATURES], np.int64)),
            _const("c_rows", np.array([-1, FEATURES], np.int64)),
        ]
        nodes += [
            helper.make_node("ReduceMax", [x0], ["x0_max"], keepdims=0),
            helper.make_node("Greater", ["x0_max", "c_limit"], ["tripped"]),
            helper.make_node("Cast", ["tripped"], ["extra"], to=TensorProto.INT64),
            helper.make_node("Add", ["c_width", "extra"], ["width"]),
            helper.make_node("Concat", ["c_flat", "width"], ["shape"], axis=0),
            # [-1, 9] cannot hold 8 elements: the run fails exactly when tripped.
            helper.make_node("Reshape", ["input", "shape"], ["reshaped"]),
            helper.make_node("Reshape", ["reshaped", "c_rows"], ["checked"]),
        ]
        return "checked"

    return _wrap_input(build)


def slow(size: int = 1024) -> onnx.ModelProto:
    def build(nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto]) -> str:
        inits += [
            _const("c_matrix", np.full((size, size), 1e-3, np.float32)),
            _const("c_zero", np.array(0.0, np.float32)),
        ]
        nodes += [
            # Depends on the input, so it cannot be folded into a constant at load time.
            helper.make_node("ReduceMax", ["input"], ["in_max"], keepdims=0),
            helper.make_node("Mul", ["in_max", "c_zero"], ["zero"]),
            helper.make_node("Add", ["c_matrix", "zero"], ["matrix"]),
            helper.make_node("MatMul", ["matrix", "matrix"], ["product"]),
            helper.make_node("ReduceMax", ["product"], ["p_max"], keepdims=0),
            helper.make_node("Mul", ["p_max", "c_zero"], ["nothing"]),
            helper.make_node("Add", ["input", "nothing"], ["checked"]),
        ]
        return "checked"

    return _wrap_input(build)


def divergent(share: float = 0.3) -> onnx.ModelProto:
    model = onnx.load(V1)
    graph = model.graph
    for node in graph.node:
        node.output[:] = ["label_v1" if name == "label" else name for name in node.output]
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = [
        _const("c_share", np.array(share, np.float32)),
        _const("c_one", np.array(1, np.int64)),
    ]
    x0 = _first_feature(nodes, inits)
    nodes += [
        helper.make_node("Less", [x0, "c_share"], ["flip"]),
        helper.make_node("Sub", ["c_one", "label_v1"], ["flipped"]),
        helper.make_node("Where", ["flip", "flipped", "label_v1"], ["label"]),
    ]
    graph.node.extend(nodes)
    graph.initializer.extend(inits)
    return model


def unloadable() -> onnx.ModelProto:
    model = onnx.load(V1)
    unheard = helper.make_node("Unheard", ["input"], ["unused"], domain="inferd.test")
    model.graph.node.append(unheard)
    model.opset_import.append(helper.make_opsetid("inferd.test", 1))
    return model


def write(model: onnx.ModelProto, directory: Path) -> Path:
    """Save ``model`` as ``directory/model.onnx`` (checked first) and return the directory."""
    onnx.checker.check_model(model)
    directory.mkdir(parents=True, exist_ok=True)
    onnx.save(model, directory / "model.onnx")
    return directory
