"""The codec alone: limits checked before allocating, and no input escapes as a non-inferd error."""

from __future__ import annotations

import tracemalloc

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inferd.config import LimitSettings
from inferd.errors import InferdError, InvalidArgument
from inferd.protocols.v2.codec import decode_request, encode_response, wants_binary
from inferd.serving.types import InferResponse, Tensor

LIMITS = LimitSettings()


def _decode(doc: object, binary: bytes = b"") -> object:
    text = orjson.dumps(doc)
    header = str(len(text)) if binary else None
    return decode_request("m", None, text + binary, header, LIMITS)


@pytest.mark.parametrize(
    "shape",
    [
        [10**9, 10**9],
        [2**63, 2**63],
        [8 * 1024 * 1024, 9],
        [1] * 8 + [10**6],
        [0, 25, 33083779, 2787883464],  # empty, yet beyond what numpy can index (hypothesis)
    ],
)
def test_huge_declared_shapes_are_refused_without_allocating(shape):
    doc = {"inputs": [{"name": "x", "shape": shape, "datatype": "FP64",
                       "parameters": {"binary_data_size": 8}}]}  # fmt: skip
    tracemalloc.start()
    try:
        with pytest.raises(InvalidArgument, match="'x'"):
            _decode(doc, b"\0" * 8)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024


def test_many_requested_outputs_are_refused_before_building_them():
    doc = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}],
           "outputs": [{"name": f"o{i}"} for i in range(100_000)]}  # fmt: skip
    with pytest.raises(InvalidArgument, match="100000 requested outputs"):
        _decode(doc)


def test_binary_request_is_a_view_of_the_body():
    raw = np.arange(4, dtype="<f4").tobytes()
    doc = {"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32",
                       "parameters": {"binary_data_size": 16}}]}  # fmt: skip
    request = _decode(doc, raw)
    assert request.inputs[0].data.tolist() == [[0.0, 1.0], [2.0, 3.0]]
    assert request.inputs[0].parameters == {}


def test_binary_choice_per_output_overrides_the_request_default():
    doc = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}],
           "parameters": {"binary_data_output": True},
           "outputs": [{"name": "a", "parameters": {"binary_data": False}},
                       {"name": "b"}]}  # fmt: skip
    request = _decode(doc)
    response = InferResponse("m", "1", [
        Tensor("a", "FP32", np.array([1.5], dtype=np.float32)),
        Tensor("b", "INT16", np.array([[1, -2]], dtype=np.int16)),
    ])  # fmt: skip
    encoded = encode_response(response, wants_binary(request))
    assert encoded.json_length is not None
    head = orjson.loads(encoded.body[: encoded.json_length])
    assert head["outputs"][0]["data"] == [1.5]
    assert head["outputs"][1]["parameters"] == {"binary_data_size": 4}
    assert encoded.body[encoded.json_length :] == np.array([1, -2], dtype="<i2").tobytes()


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
_input = st.fixed_dictionaries(
    {"name": st.text(max_size=4), "shape": st.lists(st.integers(-2, 2**40), max_size=4),
     "datatype": st.sampled_from(["FP32", "INT8", "BOOL", "BYTES", "FP16", "UINT64", "X"])},
    optional={"data": _json, "parameters": st.dictionaries(
        st.just("binary_data_size"), st.integers(-1, 64) | _json, max_size=1)},
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(doc=st.fixed_dictionaries({"inputs": st.lists(_input, max_size=3)},
                                 optional={"id": _json, "outputs": _json, "parameters": _json}),
       binary=st.binary(max_size=64))  # fmt: skip
def test_any_document_decodes_or_raises_an_inferd_error(doc, binary):
    try:
        request = _decode(doc, binary)
    except InferdError:
        return
    for tensor in request.inputs:
        assert int(np.prod(tensor.data.shape)) <= LIMITS.max_tensor_elements
