"""The streaming ONNX signature reader agrees with the onnx package, and reads only a little."""

from __future__ import annotations

import contextlib
import tracemalloc
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from inferd.card import Signature, TensorSpec
from inferd.datatypes import oip_datatype
from inferd.errors import InvalidArgument, Unsupported
from inferd.formats.onnx import is_onnx
from inferd.runtimes._onnx_signature import read_onnx_signature

from .conftest import EXAMPLES, linear_onnx


def onnx_package_view(model: onnx.ModelProto) -> Signature:
    """The signature as the onnx package sees it (the reference for the streaming reader)."""
    initializers = {t.name for t in model.graph.initializer}

    def spec(info: onnx.ValueInfoProto) -> TensorSpec:
        tensor = info.type.tensor_type
        elem = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type)
        dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim)
        return TensorSpec(name=info.name, datatype=oip_datatype(elem), shape=dims)

    return Signature(
        inputs=tuple(spec(i) for i in model.graph.input if i.name not in initializers),
        outputs=tuple(spec(o) for o in model.graph.output),
    )


@pytest.mark.parametrize("version", ["fraud-v1", "fraud-v2"])
def test_reader_matches_onnx_on_the_examples(version: str) -> None:
    path = EXAMPLES / "quickstart" / version / "model.onnx"
    signature = read_onnx_signature(path)
    assert signature == onnx_package_view(onnx.load(path))
    assert signature == Signature(
        inputs=(TensorSpec(name="input", datatype="FP32", shape=(-1, 8)),),
        outputs=(
            TensorSpec(name="label", datatype="INT64", shape=(-1,)),
            TensorSpec(name="probabilities", datatype="FP32", shape=(-1, 2)),
        ),
    )


def test_reader_matches_onnx_with_symbolic_dims_and_initializer_inputs(tmp_path: Path) -> None:
    model = linear_onnx(initializers_as_inputs=True, extra_initializers=40)
    path = tmp_path / "linear.onnx"
    onnx.save(model, path)
    signature = read_onnx_signature(path)
    assert signature == onnx_package_view(model)
    assert signature is not None
    assert [(i.name, i.datatype, i.shape) for i in signature.inputs] == [
        ("x", "FP32", (-1, 4)),
        ("flag", "BOOL", (-1, -1)),
    ]
    assert [(o.name, o.datatype, o.shape) for o in signature.outputs] == [
        ("y", "FP32", (-1, 3)),
        ("cls", "INT64", (-1,)),
        ("flag_out", "BOOL", (-1, -1)),
    ]


def test_every_oip_datatype_is_read(tmp_path: Path) -> None:
    types = {
        "FP32": TensorProto.FLOAT,
        "UINT8": TensorProto.UINT8,
        "INT8": TensorProto.INT8,
        "UINT16": TensorProto.UINT16,
        "INT16": TensorProto.INT16,
        "INT32": TensorProto.INT32,
        "INT64": TensorProto.INT64,
        "BYTES": TensorProto.STRING,
        "BOOL": TensorProto.BOOL,
        "FP16": TensorProto.FLOAT16,
        "FP64": TensorProto.DOUBLE,
        "UINT32": TensorProto.UINT32,
        "UINT64": TensorProto.UINT64,
    }
    nodes = [helper.make_node("Identity", [f"in_{n}"], [f"out_{n}"]) for n in types]
    graph = helper.make_graph(
        nodes,
        "identities",
        [helper.make_tensor_value_info(f"in_{n}", t, [2, "k"]) for n, t in types.items()],
        [helper.make_tensor_value_info(f"out_{n}", t, [2, "k"]) for n, t in types.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "identities.onnx"
    onnx.save(model, path)
    signature = read_onnx_signature(path)
    assert signature == onnx_package_view(model)
    assert signature is not None
    assert [i.datatype for i in signature.inputs] == list(types)


def test_unknown_rank_gives_no_signature(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    onnx.save(linear_onnx(unknown_rank_output=True), path)
    assert read_onnx_signature(path) is None


def test_non_tensor_outputs_are_unsupported(tmp_path: Path) -> None:
    seq = helper.make_tensor_sequence_value_info("seq", TensorProto.FLOAT, None)
    graph = helper.make_graph(
        [helper.make_node("SequenceConstruct", ["x"], ["seq"])],
        "seq",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [seq],
    )
    path = tmp_path / "seq.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    with pytest.raises(Unsupported, match="ONNX output 'seq' is a sequence, "):
        read_onnx_signature(path)


@pytest.mark.parametrize("name", ["", "x" * 300])
def test_unpublishable_tensor_names_are_refused(tmp_path: Path, name: str) -> None:
    graph = helper.make_graph(
        [helper.make_node("Identity", [name], ["y"])],
        "names",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    path = tmp_path / "names.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    with pytest.raises(InvalidArgument, match="declares a tensor name inferd cannot publish"):
        read_onnx_signature(path)


def test_large_initializers_are_skipped_not_read(tmp_path: Path) -> None:
    big = numpy_helper.from_array(np.ones((4096, 1024), dtype=np.float32), "big")  # 16 MiB
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "big"], ["y"])],
        "big",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1024])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4096, 1024])],
        [big],
    )
    path = tmp_path / "big.onnx"
    onnx.save(helper.make_model(graph), path)
    tracemalloc.start()
    try:
        signature = read_onnx_signature(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert signature is not None and signature.inputs[0].shape == (-1, 1024)
    assert peak < 1024 * 1024, f"reading the signature allocated {peak} bytes"


def test_not_onnx_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"definitely not a protobuf \xff\xff\xff")
    assert not is_onnx(path)
    with pytest.raises(InvalidArgument, match=r"'model\.onnx' is not a valid ONNX model"):
        read_onnx_signature(path)


def test_truncated_model_is_refused(tmp_path: Path) -> None:
    data = (EXAMPLES / "quickstart" / "fraud-v1" / "model.onnx").read_bytes()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    assert not is_onnx(path)
    with pytest.raises(InvalidArgument):
        read_onnx_signature(path)


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=512), cut=st.integers(min_value=0, max_value=455))
def test_arbitrary_bytes_never_crash_the_reader(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, cut: int
) -> None:
    """Garbage, and garbage glued to a real model's head, is either ONNX or refused cleanly."""
    real = (EXAMPLES / "quickstart" / "fraud-v1" / "model.onnx").read_bytes()
    path = tmp_path_factory.mktemp("fuzz") / "x.onnx"
    for payload in (data, real[:cut] + data):
        path.write_bytes(payload)
        with contextlib.suppress(InvalidArgument, Unsupported):
            read_onnx_signature(path)
