"""An ONNX input or output the Open Inference Protocol cannot carry is refused naming what it
is (an output, a sequence of maps) and what to do: a scikit-learn classifier converted with
skl2onnx's ZipMap gets the option that turns it off, a sequence the graph op that makes it a
tensor. The message used to guess ("input/output 'x' is not a tensor (a sequence or map?)") and
gave the ZipMap advice for any sequence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper
from skl2onnx import to_onnx
from sklearn.linear_model import LogisticRegression

from inferd.errors import Unsupported
from inferd.runtimes._onnx_signature import read_onnx_signature


def test_a_zipmap_output_names_the_option_that_turns_it_off(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    classifier = LogisticRegression().fit(x, ["cat", "dog", "fish"] * 10)
    path = tmp_path / "model.onnx"
    path.write_bytes(to_onnx(classifier, x[:1], target_opset=17).SerializeToString())
    with pytest.raises(Unsupported) as info:
        read_onnx_signature(path)
    assert info.value.message == (
        "ONNX output 'output_probability' is a sequence of maps (what skl2onnx's ZipMap makes of "
        "a classifier's probabilities), and the Open Inference Protocol carries tensors only: "
        "convert the model without it (to_onnx(model, X, options={'zipmap': False}))"
    )


def test_a_sequence_input_is_named_as_an_input(tmp_path: Path) -> None:
    seq = helper.make_tensor_sequence_value_info("parts", TensorProto.FLOAT, None)
    graph = helper.make_graph(
        [helper.make_node("ConcatFromSequence", ["parts"], ["y"], axis=0)],
        "seq",
        [seq],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [-1])],
    )
    path = tmp_path / "model.onnx"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path.write_bytes(model.SerializeToString())
    with pytest.raises(Unsupported) as info:
        read_onnx_signature(path)
    assert info.value.message == (
        "ONNX input 'parts' is a sequence, and the Open Inference Protocol carries tensors "
        "only: take or give tensors at the graph's edges (ConcatFromSequence, "
        "SplitToSequence)"
    )
