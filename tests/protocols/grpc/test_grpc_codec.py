"""The gRPC codec on its own: every datatype both ways, and a table of bad requests."""

from __future__ import annotations

import struct
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from inferd.card import Signature, TensorSpec
from inferd.config import LimitSettings
from inferd.errors import (
    InferdError,
    InternalError,
    InvalidArgument,
    InvalidTensor,
    PayloadTooLarge,
    Unsupported,
)
from inferd.protocols._generated import inference_pb2 as pb
from inferd.protocols.grpc.codec import (
    decode_parameters,
    decode_request,
    encode_parameters,
    encode_response,
)
from inferd.serving.signature import SignatureCheck
from inferd.serving.types import InferResponse, Tensor

LIMITS = LimitSettings(max_tensor_rank=4, max_tensor_elements=1000, max_inputs=3, max_outputs=2)

#: datatype → (typed contents field, an array that exercises the type's range).
SAMPLES: dict[str, tuple[str | None, np.ndarray]] = {
    "BOOL": ("bool_contents", np.array([[True, False, True]])),
    "INT8": ("int_contents", np.array([[-128, 0, 127]], dtype=np.int8)),
    "INT16": ("int_contents", np.array([[-32768, 1, 32767]], dtype=np.int16)),
    "INT32": ("int_contents", np.array([[-(2**31), 2, 2**31 - 1]], dtype=np.int32)),
    "INT64": ("int64_contents", np.array([[-(2**63), 3, 2**63 - 1]], dtype=np.int64)),
    "UINT8": ("uint_contents", np.array([[0, 1, 255]], dtype=np.uint8)),
    "UINT16": ("uint_contents", np.array([[0, 2, 65535]], dtype=np.uint16)),
    "UINT32": ("uint_contents", np.array([[0, 3, 2**32 - 1]], dtype=np.uint32)),
    "UINT64": ("uint64_contents", np.array([[0, 4, 2**64 - 1]], dtype=np.uint64)),
    "FP16": (None, np.array([[-1.5, 0.0, 65504.0]], dtype=np.float16)),
    "FP32": ("fp32_contents", np.array([[-1.5, 0.25, 3.0e38]], dtype=np.float32)),
    "FP64": ("fp64_contents", np.array([[-1.5, 1e-300, 1e300]], dtype=np.float64)),
    "BYTES": ("bytes_contents", np.array([[b"", b"\x00\xff", "é".encode()]], dtype=object)),
}


def _raw(array: np.ndarray) -> bytes:
    if array.dtype == object:
        return b"".join(struct.pack("<I", len(b)) + b for b in array.ravel())
    return array.tobytes()


def _request(datatype: str, shape: list[int], **contents: Any) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="m")
    tensor = request.inputs.add(name="x", datatype=datatype, shape=shape)
    for field, values in contents.items():
        getattr(tensor.contents, field).extend(values)
    return request


def _raw_request(datatype: str, shape: list[int], raw: bytes) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="m", raw_input_contents=[raw])
    request.inputs.add(name="x", datatype=datatype, shape=shape)
    return request


def _response(datatype: str, array: np.ndarray) -> InferResponse:
    return InferResponse("m", "1", [Tensor("y", datatype, array)])


@pytest.mark.parametrize("datatype", [d for d, (field, _) in SAMPLES.items() if field])
def test_typed_contents_both_ways(datatype: str) -> None:
    field, array = SAMPLES[datatype]
    assert field is not None
    decoded = decode_request(
        _request(datatype, [1, 3], **{field: array.ravel().tolist()}), LIMITS, None
    )
    (tensor,) = decoded.inputs
    assert tensor.datatype == datatype
    assert tensor.data.dtype == array.dtype
    np.testing.assert_array_equal(tensor.data, array)

    reply = encode_response(_response(datatype, array), raw=False, request_id="")
    assert not reply.raw_output_contents
    assert list(reply.outputs[0].shape) == [1, 3]
    assert list(getattr(reply.outputs[0].contents, field)) == array.ravel().tolist()


@pytest.mark.parametrize("datatype", list(SAMPLES))
def test_raw_contents_both_ways(datatype: str) -> None:
    _, array = SAMPLES[datatype]
    decoded = decode_request(_raw_request(datatype, [1, 3], _raw(array)), LIMITS, None)
    np.testing.assert_array_equal(decoded.inputs[0].data, array)
    assert decoded.inputs[0].data.dtype == array.dtype

    reply = encode_response(_response(datatype, array), raw=True, request_id="")
    assert list(reply.raw_output_contents) == [_raw(array)]
    assert not reply.outputs[0].contents.ListFields()


def test_request_fields_are_carried_over() -> None:
    request = _request("FP32", [2], fp32_contents=[1, 2])
    request.model_version, request.id = "7", "abc"
    request.parameters["my_custom_parameter"].uint64_param = 2**63
    request.outputs.add(name="y").parameters["binary_data"].bool_param = True
    decoded = decode_request(request, LIMITS, deadline=123.5)
    assert (decoded.model, decoded.version, decoded.id, decoded.deadline) == (
        "m",
        "7",
        "abc",
        123.5,
    )
    assert decoded.parameters == {"my_custom_parameter": 2**63}
    assert decoded.outputs is not None
    assert [(o.name, o.parameters) for o in decoded.outputs] == [("y", {"binary_data": True})]
    bare = decode_request(_request("FP32", [0]), LIMITS, None)
    assert (bare.version, bare.id, bare.outputs, bare.deadline) == (None, None, None, None)
    assert bare.inputs[0].data.shape == (0,)


def test_fp16_output_makes_the_whole_reply_raw() -> None:
    response = InferResponse(
        "m",
        None,
        [Tensor("a", "FP32", np.ones(2, np.float32)), Tensor("b", "FP16", np.ones(2, np.float16))],
    )
    reply = encode_response(response, raw=False, request_id="from-request")
    assert list(reply.raw_output_contents) == [
        np.ones(2, np.float32).tobytes(),
        np.ones(2, np.float16).tobytes(),
    ]
    assert (reply.model_version, reply.id) == ("", "from-request")


def test_bytes_outputs_accept_str_elements() -> None:
    reply = encode_response(_response("BYTES", np.array(["hé", "x"])), raw=False, request_id="")
    assert list(reply.outputs[0].contents.bytes_contents) == ["hé".encode(), b"x"]


def test_parameters_both_ways() -> None:
    values = {"b": True, "i": -5, "u": 2**64 - 1, "f": 0.5, "s": "text"}
    message = pb.ModelInferResponse()
    encode_parameters(values, message.parameters)
    assert message.parameters["u"].WhichOneof("parameter_choice") == "uint64_param"
    assert message.parameters["b"].WhichOneof("parameter_choice") == "bool_param"
    assert decode_parameters(message.parameters) == values
    with pytest.raises(InternalError, match="'bad'"):
        encode_parameters({"bad": [1, 2]}, message.parameters)


def _with(
    build: Callable[[pb.ModelInferRequest], Any], request: pb.ModelInferRequest
) -> pb.ModelInferRequest:
    build(request)
    return request


BAD = [
    pytest.param(
        _request("FP33", [1], fp32_contents=[1]),
        InvalidTensor,
        "unknown datatype 'FP33'",
        id="unknown datatype",
    ),
    pytest.param(
        _request("FP16", [1], fp32_contents=[1]),
        InvalidTensor,
        "only be sent in raw_input_contents",
        id="FP16 typed",
    ),
    pytest.param(
        _request("FP32", [2], int_contents=[1, 2]),
        InvalidTensor,
        "takes its data in fp32_contents, not int_contents",
        id="wrong field",
    ),
    pytest.param(
        _request("FP32", [2, 3], fp32_contents=[1] * 5),
        InvalidTensor,
        "needs 6 elements but fp32_contents has 5",
        id="count mismatch",
    ),
    pytest.param(
        _request("INT8", [2], int_contents=[1, 300]),
        InvalidTensor,
        "outside the range of INT8",
        id="INT8 overflow",
    ),
    pytest.param(
        _request("UINT16", [1], uint_contents=[70000]),
        InvalidTensor,
        "outside the range of UINT16",
        id="UINT16 overflow",
    ),
    pytest.param(
        _request("FP32", [1] * 5, fp32_contents=[1]),
        InvalidTensor,
        "rank 5 is beyond the limit of 4",
        id="rank",
    ),
    pytest.param(
        _request("FP32", [-1], fp32_contents=[1]),
        InvalidTensor,
        "negative dimension",
        id="negative dim",
    ),
    pytest.param(
        _request("FP32", [1001], fp32_contents=[0] * 1001),
        PayloadTooLarge,
        "1001 elements are beyond the limit of 1000",
        id="elements beyond limit",
    ),
    pytest.param(
        _raw_request("FP32", [2, 3], b"\0" * 20),
        InvalidTensor,
        "needs 24 bytes but its raw_input_contents entry has 20",
        id="raw size",
    ),
    pytest.param(
        _raw_request("FP64", [2**62, 2**62, 4], b"\0" * 8),
        InvalidTensor,
        "needs 680564733841876926926749214863536422912 bytes",
        id="raw huge shape",
    ),
    pytest.param(
        _raw_request("FP32", [0, 25, 33083779, 2787883464], b""),
        InvalidTensor,
        "spans 2305843010018261400 elements",
        id="empty tensor with absurd dimensions",
    ),
    pytest.param(
        _raw_request("BOOL", [2], b"\x01\x02"),
        InvalidTensor,
        "bytes of 0 or 1",
        id="BOOL raw values",
    ),
    pytest.param(
        _raw_request("BYTES", [2**40], b"\0" * 8), InvalidTensor, "at most 2", id="BYTES huge shape"
    ),
    pytest.param(
        _raw_request("BYTES", [2], b"\1\0\0\0a\0\0\0"),
        InvalidTensor,
        "ends before element 1",
        id="BYTES prefix cut",
    ),
    pytest.param(
        _raw_request("BYTES", [1], b"\x09\0\0\0abc"),
        InvalidTensor,
        "element 0 declares 9 bytes but 3 remain",
        id="BYTES overrun",
    ),
    pytest.param(
        _raw_request("BYTES", [1], b"\1\0\0\0ab"),
        InvalidTensor,
        "1 bytes left over",
        id="BYTES leftover",
    ),
    pytest.param(
        _with(
            lambda r: r.inputs[0].contents.fp32_contents.append(1),
            _raw_request("FP32", [1], b"\0" * 4),
        ),
        InvalidTensor,
        "both in contents and in raw_input_contents",
        id="raw and typed",
    ),
    pytest.param(
        _with(
            lambda r: r.inputs.add(name="z", datatype="FP32", shape=[1]),
            _raw_request("FP32", [1], b"\0" * 4),
        ),
        InvalidArgument,
        "raw_input_contents has 1 entries for 2 inputs",
        id="raw count",
    ),
    pytest.param(
        _with(
            lambda r: [r.inputs.add(name=f"i{k}", datatype="FP32") for k in range(3)],
            _request("FP32", [0]),
        ),
        InvalidArgument,
        "4 inputs exceed the limit of 3 (limits.max_inputs)",
        id="too many inputs",
    ),
    pytest.param(
        _with(lambda r: [r.outputs.add(name=f"o{k}") for k in range(3)], _request("FP32", [0])),
        InvalidArgument,
        "3 requested outputs exceed the limit of 2 (limits.max_outputs)",
        id="too many outputs",
    ),
    pytest.param(
        _with(lambda r: r.inputs.add(name="x", datatype="FP32"), _request("FP32", [0])),
        InvalidTensor,
        "'x': appears twice",
        id="duplicate input",
    ),
    pytest.param(
        _with(lambda r: [r.outputs.add(name="y") for _ in range(2)], _request("FP32", [0])),
        InvalidArgument,
        "output 'y' is requested more than once",
        id="duplicate output",
    ),
    pytest.param(
        _with(lambda r: r.inputs.add(datatype="FP32"), _request("FP32", [0])),
        InvalidArgument,
        "input 1 has no name",
        id="unnamed input",
    ),
    pytest.param(
        _with(lambda r: r.ClearField("model_name"), _request("FP32", [0])),
        InvalidArgument,
        "model_name is required",
        id="no model",
    ),
    pytest.param(
        _with(lambda r: r.parameters.get_or_create("p"), _request("FP32", [0])),
        InvalidArgument,
        "parameter 'p' has no value",
        id="unset parameter",
    ),
    pytest.param(
        _with(
            lambda r: setattr(
                r.inputs[0].parameters["shared_memory_region"], "string_param", "shm"
            ),
            _request("FP32", [0]),
        ),
        Unsupported,
        "shared-memory",
        id="shared memory",
    ),
]


@pytest.mark.parametrize(("request_", "error", "fragment"), BAD)
def test_bad_requests_are_refused_with_a_message_naming_the_problem(
    request_: pb.ModelInferRequest, error: type[InferdError], fragment: str
) -> None:
    with pytest.raises(error) as caught:
        decode_request(request_, LIMITS, None)
    assert type(caught.value) is error
    assert fragment in caught.value.message


def test_a_huge_declared_shape_allocates_nothing() -> None:
    request = _raw_request("FP32", [2**20, 2**20, 2**20], b"\0" * 16)
    tracemalloc.start()
    try:
        with pytest.raises(InvalidTensor):
            decode_request(request, LimitSettings(), None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024


def test_a_signature_mismatch_is_refused_before_the_data_is_decoded() -> None:
    # 1 Mi BYTES elements would take an object array of 8 MiB (and a second of Python) to decode.
    request = _raw_request("BYTES", [2**20], struct.pack("<I", 0) * 2**20)
    check = SignatureCheck(
        "m", Signature(inputs=(TensorSpec(name="x", datatype="FP32", shape=(-1,)),))
    )
    roomy = LimitSettings(max_bytes_elements=2**20)
    tracemalloc.start()
    try:
        with pytest.raises(InvalidTensor, match="'x': expected datatype FP32 but got BYTES"):
            decode_request(request, roomy, None, check)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024
