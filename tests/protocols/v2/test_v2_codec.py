"""The codec alone: limits checked before allocating, and no input escapes as a non-inferd error."""

from __future__ import annotations

import json
import struct
import tracemalloc

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inferd.card import Signature, TensorSpec
from inferd.config import LimitSettings
from inferd.errors import InferdError, InvalidArgument, InvalidTensor
from inferd.protocols._generated import inference_pb2 as pb
from inferd.protocols.grpc.codec import decode_request as grpc_decode_request
from inferd.protocols.v2.codec import HEADER_LENGTH, MAX_TIMEOUT_MS, decode_request
from inferd.protocols.v2.encoding import encode_response, wants_binary
from inferd.protocols.v2.kserve_v1 import decode_instances
from inferd.serving.signature import SignatureCheck
from inferd.serving.types import InferRequest, InferResponse, InputCheck, Tensor

LIMITS = LimitSettings()


def _decode(
    doc: object,
    binary: bytes = b"",
    *,
    headers: dict[str, str] | None = None,
    check: InputCheck | None = None,
    received: float = 0.0,
) -> InferRequest:
    text = orjson.dumps(doc)
    headers = dict(headers or {})
    if binary:
        headers[HEADER_LENGTH] = str(len(text))
    return decode_request("m", None, text + binary, headers, LIMITS, check=check, received=received)


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


def test_binary_tensors_of_a_bytearray_body_are_read_only_views():
    """The connection hands a body that came in several chunks over as its bytearray."""
    raw = np.arange(4, dtype="<f4").tobytes()
    text = orjson.dumps({"inputs": [{"name": "x", "shape": [4], "datatype": "FP32",
                                     "parameters": {"binary_data_size": 16}}]})  # fmt: skip
    body = bytearray(text + raw)
    request = decode_request(
        "m", None, body, {HEADER_LENGTH: str(len(text))}, LIMITS, check=None, received=0.0
    )
    data = request.inputs[0].data
    assert not data.flags.writeable
    body[len(text) : len(text) + 4] = np.float32(9).tobytes()
    assert data.tolist() == [9.0, 1.0, 2.0, 3.0]  # shares the body's memory: no copy


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


SIGNATURE = SignatureCheck(
    "m", Signature(inputs=(TensorSpec(name="x", datatype="FP32", shape=(-1, 3)),))
)


@pytest.mark.parametrize(
    ("datatype", "shape", "fragment"),
    [
        ("BYTES", [2**20], "expected datatype FP32 but got BYTES"),
        ("FP32", [2**20], "expected shape [-1, 3] (rank 2)"),
    ],
)
def test_a_signature_mismatch_is_refused_before_the_data_is_decoded(datatype, shape, fragment):
    # 1 Mi BYTES elements (4 MiB of prefixes) would take an object array of 8 MiB to decode.
    binary = struct.pack("<I", 0) * 2**20
    doc = {"inputs": [{"name": "x", "shape": shape, "datatype": datatype,
                       "parameters": {"binary_data_size": len(binary)}}]}  # fmt: skip
    text = orjson.dumps(doc)
    body, headers = text + binary, {HEADER_LENGTH: str(len(text))}
    tracemalloc.start()
    try:
        with pytest.raises(InvalidTensor, match="'x'") as caught:
            decode_request("m", None, body, headers, LIMITS, check=SIGNATURE, received=0.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert fragment in caught.value.message
    assert peak < 64 * 1024


def test_an_unknown_input_is_refused_before_the_data_is_decoded():
    doc = {"inputs": [{"name": "w", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}
    with pytest.raises(InvalidTensor, match="'w': unknown input; model 'm' takes x"):
        _decode(doc, check=SIGNATURE)


_ONE = {"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}


@pytest.mark.parametrize(
    ("parameter", "header", "timeout_s"),
    [
        (None, None, None),
        (250, None, 0.25),
        (None, "40", 0.04),
        (250, "40", 0.04),  # the sooner of the two
        (MAX_TIMEOUT_MS, None, MAX_TIMEOUT_MS / 1000),
        ({"timeout": 1_500_000}, None, 1.5),  # Triton's, in microseconds (tritonclient timeout=)
        ({"timeout": 1_500_000, "timeout_ms": 250}, None, 0.25),
        ({"timeout": 30_000}, "40", 0.03),
    ],
)
def test_a_timeout_becomes_the_request_deadline(parameter, header, timeout_s):
    doc: dict[str, object] = {"inputs": [_ONE]}
    if isinstance(parameter, dict):
        doc["parameters"] = parameter
    elif parameter is not None:
        doc["parameters"] = {"timeout_ms": parameter}
    headers = {} if header is None else {"inference-timeout-ms": header}
    request = _decode(doc, headers=headers, received=100.0)
    assert request.deadline == (None if timeout_s is None else 100.0 + timeout_s)


@pytest.mark.parametrize(
    ("parameters", "headers", "where"),
    [
        ({"timeout_ms": 0}, {}, "parameters.timeout_ms"),
        ({"timeout_ms": -5}, {}, "parameters.timeout_ms"),
        ({"timeout_ms": 1.5}, {}, "parameters.timeout_ms"),
        ({"timeout_ms": "100"}, {}, "parameters.timeout_ms"),
        ({"timeout_ms": True}, {}, "parameters.timeout_ms"),
        ({"timeout_ms": MAX_TIMEOUT_MS + 1}, {}, "parameters.timeout_ms"),
        ({}, {"inference-timeout-ms": "soon"}, "Inference-Timeout-Ms"),
        ({}, {"inference-timeout-ms": "0"}, "Inference-Timeout-Ms"),
        ({}, {"inference-timeout-ms": "-1"}, "Inference-Timeout-Ms"),
        ({}, {"inference-timeout-ms": "9" * 5000}, "Inference-Timeout-Ms"),
        ({"timeout": -1}, {}, r"parameters.timeout \(Triton's, in microseconds\)"),
        ({"timeout": "5"}, {}, r"parameters.timeout \(Triton's, in microseconds\)"),
        ({"timeout": MAX_TIMEOUT_MS * 1000 + 1}, {}, r"parameters.timeout \(Triton's"),
    ],
)
def test_an_invalid_timeout_is_refused(parameters, headers, where):
    with pytest.raises(InvalidArgument, match=f"{where}.* must be a whole number of"):
        _decode({"inputs": [_ONE], "parameters": parameters}, headers=headers)


@pytest.mark.parametrize(
    ("value", "shown"),
    [("abc", "'abc'"), ("1.5", "'1.5'"), ("9" * 27, "'" + "9" * 27 + "'"),
     ("9" * 5000, "(5000 characters)")],
)  # fmt: skip
def test_a_bad_timeout_header_is_named_as_sent(value, shown):
    with pytest.raises(InvalidArgument) as refused:
        _decode({"inputs": [_ONE]}, headers={"inference-timeout-ms": value})
    assert str(refused.value).endswith(f"not {shown}") or shown in str(refused.value)
    assert "None" not in str(refused.value)
    assert len(str(refused.value)) < 200


@pytest.mark.parametrize(
    ("datatype", "data"),
    [("FP32", [1.0, 1e39]), ("FP32", [[-1e39], [0.0]]), ("FP16", [1, 70000]),
     ("FP16", [65520.0])],
)  # fmt: skip
def test_a_number_beyond_its_float_datatype_is_refused(datatype, data):
    """JSON numbers are finite; one that the declared float type cannot hold would reach the
    model as infinity (only the REST JSON forms can carry it: typed gRPC contents are already
    of the datatype's width)."""
    shape = [len(data), 1] if isinstance(data[0], list) else [len(data)]
    doc = {"inputs": [{"name": "x", "shape": shape, "datatype": datatype, "data": data}]}
    with pytest.raises(InvalidTensor, match=f"'x'.*outside the range of {datatype}"):
        _decode(doc)


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"parameters": {"binary_data_output": "yes"}}, "request parameter 'binary_data_output'"),
        ({"parameters": {"binary_data_output": 1}}, "must be true or false, not 1"),
        ({"outputs": [{"name": "y", "parameters": {"binary_data": "no"}}]},
         "output 'y' parameter 'binary_data' must be true or false, not 'no'"),
        ({"outputs": [{"name": "y"}, {"name": "y"}]}, "output 'y' is requested more than once"),
    ],
)  # fmt: skip
def test_output_choices_are_checked(extra, words):
    with pytest.raises(InvalidArgument) as refused:
        _decode({"inputs": [_ONE], **extra})
    assert words in str(refused.value)


def test_an_empty_outputs_list_asks_for_every_output_as_over_grpc():
    """Protobuf cannot tell an empty repeated field from an omitted one: gRPC reads both as
    "every output", and REST reads them the same way."""
    assert _decode({"inputs": [_ONE], "outputs": []}).outputs is None


def test_the_largest_finite_floats_are_kept():
    top = float(np.finfo(np.float32).max)
    doc = {"inputs": [{"name": "x", "shape": [3], "datatype": "FP32", "data": [top, -top, 1]}]}
    (tensor,) = _decode(doc).inputs
    assert np.isfinite(tensor.data).all()
    many = [1e38] * 64  # their squares sum past FP32's limit², yet each one fits
    doc = {"inputs": [{"name": "x", "shape": [64], "datatype": "FP32", "data": many}]}
    assert np.isfinite(_decode(doc).inputs[0].data).all()


@pytest.mark.parametrize(
    "data",
    [[0, 2**64 - 1], [[2**63], [1]], [2**64 - 1, 2**63 - 1, 2**53 + 1, 0]],
)
def test_uint64_json_takes_the_whole_range_exactly(data):
    """Python ints below and at or above 2**63 together are float64 to numpy: exactness needs
    the slow path (2**53 + 1 and 2**64 - 1 have no float64 form)."""
    shape = [len(data), 1] if isinstance(data[0], list) else [len(data)]
    doc = {"inputs": [{"name": "x", "shape": shape, "datatype": "UINT64", "data": data}]}
    (tensor,) = _decode(doc).inputs
    assert tensor.data.dtype == np.uint64
    assert tensor.data.tolist() == data


def test_kserve_v1_instances_take_the_whole_uint64_range_exactly():
    body = orjson.dumps({"instances": [[0, 2**64 - 1]]})
    request = decode_instances(body, model="m", name="x", datatype="UINT64", limits=LIMITS)
    assert request.inputs[0].data.tolist() == [[0, 2**64 - 1]]


@pytest.mark.parametrize(
    ("datatype", "data", "words"),
    [
        ("UINT64", [1.5, 2**64 - 1], "datatype UINT64 cannot hold floating-point numbers"),
        ("UINT64", [-1, 2**64 - 1], "values outside the range of UINT64"),
        ("INT64", [0, 2**63], "values outside the range of INT64"),
        ("INT8", [None, 2**64 - 1], "null is not a value of INT8"),
    ],
)
def test_wide_json_integers_are_refused_for_what_they_are(datatype, data, words):
    doc = {"inputs": [{"name": "x", "shape": [len(data)], "datatype": datatype, "data": data}]}
    with pytest.raises(InvalidTensor) as refused:
        _decode(doc)
    assert f"tensor 'x': {words}" in str(refused.value)


@pytest.mark.parametrize("datatype", ["INT64", "UINT64", "INT32"])
def test_a_json_integer_beyond_64_bits_is_out_of_range_not_a_float(datatype):
    """The JSON parser reads such an integer as a float: it was refused as "cannot hold
    floating-point numbers" (only REST JSON can carry it)."""
    tensor = {"name": "x", "shape": [2], "datatype": datatype, "data": [1, 99999999999999999999]}
    body = json.dumps({"inputs": [tensor]}).encode()  # orjson refuses such an integer
    with pytest.raises(InvalidTensor, match=f"'x'.*outside the range of {datatype}"):
        decode_request("m", None, body, {}, LimitSettings(), check=None, received=0.0)


@pytest.mark.parametrize("data", [[1.0, None, 0.5], [[None], [2.0]]])
def test_a_json_null_is_named_with_the_way_to_send_missing_values(data):
    """JSON has no NaN: a client sending null for a missing value is told how to send one."""
    doc = {"inputs": [{"name": "x", "shape": np.shape(data), "datatype": "FP32", "data": data}]}
    with pytest.raises(InvalidTensor) as refused:
        _decode(doc)
    message = str(refused.value)
    assert "null is not a value of FP32" in message
    assert "binary tensor data or over gRPC" in message


def test_a_repeated_input_is_refused_before_any_data_is_decoded_as_over_grpc():
    """The second copy's data is never read (its strings would be another error), and the words
    are gRPC's for the same request."""
    good = {"name": "x", "shape": [1], "datatype": "FP32", "data": [1.0]}
    twice = {**good, "data": ["not a number"]}
    with pytest.raises(InvalidTensor) as caught:
        _decode({"inputs": [good, twice]})
    message = pb.ModelInferRequest(model_name="m")
    for _ in range(2):
        message.inputs.add(name="x", datatype="FP32", shape=[1]).contents.fp32_contents.append(1)
    with pytest.raises(InvalidTensor) as over_grpc:
        grpc_decode_request(message, LIMITS, None)
    assert (
        caught.value.message
        == over_grpc.value.message
        == ("tensor 'x': appears twice among the inputs")
    )


def test_a_request_without_inputs_gets_the_same_words_as_over_grpc():
    with pytest.raises(InvalidArgument) as caught:
        _decode({"inputs": []})
    with pytest.raises(InvalidArgument) as over_grpc:
        grpc_decode_request(pb.ModelInferRequest(model_name="m"), LIMITS, None)
    assert caught.value.message == over_grpc.value.message == "'inputs' must be a non-empty list"


def test_an_input_with_an_empty_name_gets_the_same_words_as_over_grpc():
    """It was refused only once decoded, as an unknown input called ''."""
    named = {"name": "x", "shape": [1], "datatype": "FP32", "data": [1.0]}
    with pytest.raises(InvalidArgument) as caught:
        _decode({"inputs": [named, {**named, "name": ""}]}, check=_NoHeaders())
    message = pb.ModelInferRequest(model_name="m")
    message.inputs.add(name="x", datatype="FP32", shape=[1]).contents.fp32_contents.append(1)
    message.inputs.add(name="", datatype="FP32", shape=[1]).contents.fp32_contents.append(1)
    with pytest.raises(InvalidArgument) as over_grpc:
        grpc_decode_request(message, LIMITS, None)
    assert caught.value.message == over_grpc.value.message == "input 1 has no name"


class _NoHeaders:
    """An input check that must not be reached: the request is refused before."""

    def declared(self, name: str, datatype: str, shape: tuple[int, ...]) -> None:
        raise AssertionError(f"header of {name!r} checked")
