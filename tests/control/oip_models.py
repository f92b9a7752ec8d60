"""Models made in code for the gateway's protocol tests (nothing downloaded).

* :func:`mixed_model` — one input and one output each of FP32, INT64 and BYTES, whose answers
  depend on the version's constants, so two versions answer differently and a client can tell
  which one served it;
* :func:`slow_model` — FP32 rows through dense layers: about 0.7 ms a row on one core.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _save(model: onnx.ModelProto, path: Path) -> Path:
    model.ir_version = 8
    path.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path / "model.onnx")
    return path


def mixed_model(path: Path, *, scale: float, offset: int, suffix: str) -> Path:
    """``x`` FP32 [n, 4] → ``scaled`` (x times scale); ``ids`` INT64 [n] → ``shifted`` (ids +
    offset); ``text`` BYTES [n] → ``tagged`` (each string followed by ``suffix``)."""
    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["x", "scale"], ["scaled"]),
            helper.make_node("Add", ["ids", "offset"], ["shifted"]),
            helper.make_node("StringConcat", ["text", "suffix"], ["tagged"]),
        ],
        "mixed",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4]),
            helper.make_tensor_value_info("ids", TensorProto.INT64, ["n"]),
            helper.make_tensor_value_info("text", TensorProto.STRING, ["n"]),
        ],
        [
            helper.make_tensor_value_info("scaled", TensorProto.FLOAT, ["n", 4]),
            helper.make_tensor_value_info("shifted", TensorProto.INT64, ["n"]),
            helper.make_tensor_value_info("tagged", TensorProto.STRING, ["n"]),
        ],
        [
            numpy_helper.from_array(np.array(scale, np.float32), "scale"),
            numpy_helper.from_array(np.array(offset, np.int64), "offset"),
            helper.make_tensor("suffix", TensorProto.STRING, [], [suffix.encode()]),
        ],
    )
    # StringConcat is opset 20; onnxruntime's StringNormalizer would need a system locale.
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]), path)


def slow_model(path: Path, size: int = 1024, layers: int = 24) -> Path:
    """``x`` FP32 [n, size] → ``y`` through ``layers`` products with one square matrix of
    ``size`` (shared, so the file stays small): about 0.7 ms a row on one core."""
    w = (np.random.default_rng(0).standard_normal((size, size)) / np.sqrt(size)).astype(np.float32)
    nodes, previous = [], "x"
    for i in range(layers):
        out = "y" if i == layers - 1 else f"h{i}"
        nodes.append(helper.make_node("MatMul", [previous, "w"], [out]))
        previous = out
    graph = helper.make_graph(
        nodes,
        "slow",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", size])],
        [numpy_helper.from_array(w, "w")],
    )
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
