"""An ONNX tensor of an element type the Open Inference Protocol has no datatype for is refused
at push naming the type as ONNX names it (BFLOAT16, FLOAT8E4M3FN…), not only by its number."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from inferd.errors import Unsupported
from inferd.runtimes.detect import detect_model


@pytest.mark.parametrize(
    ("elem_type", "named"),
    [
        (TensorProto.BFLOAT16, "BFLOAT16 (element type 16)"),
        (TensorProto.COMPLEX64, "COMPLEX64 (element type 14)"),
        (TensorProto.FLOAT8E4M3FN, "FLOAT8E4M3FN (element type 17)"),
    ],
)
def test_an_element_type_without_a_datatype_is_named(
    tmp_path: Path, elem_type: int, named: str
) -> None:
    graph = helper.make_graph(
        [helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT)],
        "cast",
        [helper.make_tensor_value_info("x", elem_type, ["N", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    onnx.save(model, tmp_path / "model.onnx")
    with pytest.raises(Unsupported) as info:
        detect_model(tmp_path, None)
    assert info.value.message == (
        f"ONNX tensor 'x' is {named}, which has no Open Inference Protocol datatype: cast it "
        "in the graph to one that has (FP32, FP16, INT64…)"
    )
