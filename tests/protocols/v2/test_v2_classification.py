"""Triton's classification extension (``parameters.classification`` on a requested output, what
tritonclient's ``InferRequestedOutput(name, class_count=k)`` sends) is refused over REST and gRPC
alike. It was passed through unread: the client got the raw tensor where it asked for top-k
"score:index:label" strings, and decoded it as such. A ``classification`` of 0 is none, as Triton
reads a ``class_count`` of 0 (and as ``sequence_id: 0`` and ``priority: 0`` are none)."""

from __future__ import annotations

import orjson
import pytest

from inferd.config import LimitSettings
from inferd.errors import Code, Unsupported
from inferd.protocols._generated import inference_pb2 as pb
from inferd.protocols.grpc.codec import decode_request as decode_grpc
from inferd.protocols.v2.codec import decode_request as decode_rest

WORDS = "output 'label': Triton's classification extension (parameters.classification)"
_X = {"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1.0, 2.0]}


def test_rest_refuses_a_classification_output():
    doc = {"inputs": [_X], "outputs": [{"name": "label", "parameters": {"classification": 2}}]}
    with pytest.raises(Unsupported) as refused:
        decode_rest("m", None, orjson.dumps(doc), {}, LimitSettings(), check=None, received=0.0)
    assert WORDS in str(refused.value)
    assert refused.value.code is Code.UNSUPPORTED  # 501, as for shared memory


def test_grpc_refuses_a_classification_output():
    request = pb.ModelInferRequest(model_name="m")
    request.inputs.add(name="x", datatype="FP32", shape=[1, 2]).contents.fp32_contents.extend(
        [1.0, 2.0]
    )
    request.outputs.add(name="label").parameters["classification"].int64_param = 2
    with pytest.raises(Unsupported) as refused:
        decode_grpc(request, LimitSettings(), None, None)
    assert WORDS in str(refused.value)


def test_other_output_parameters_still_pass():
    doc = {"inputs": [_X], "outputs": [{"name": "label", "parameters": {"binary_data": True}}]}
    request = decode_rest(
        "m", None, orjson.dumps(doc), {}, LimitSettings(), check=None, received=0.0
    )
    assert request.outputs is not None and request.outputs[0].name == "label"


def test_rest_takes_a_classification_of_zero_as_none():
    """It was a 501 naming the classification extension, which a count of 0 does not ask for."""
    doc = {"inputs": [_X], "outputs": [{"name": "label", "parameters": {"classification": 0}}]}
    request = decode_rest(
        "m", None, orjson.dumps(doc), {}, LimitSettings(), check=None, received=0.0
    )
    assert request.outputs is not None and [o.name for o in request.outputs] == ["label"]
    assert "classification" not in request.outputs[0].parameters


def test_grpc_takes_a_classification_of_zero_as_none():
    request = pb.ModelInferRequest(model_name="m")
    request.inputs.add(name="x", datatype="FP32", shape=[1, 2]).contents.fp32_contents.extend(
        [1.0, 2.0]
    )
    request.outputs.add(name="label").parameters["classification"].int64_param = 0
    decoded = decode_grpc(request, LimitSettings(), None, None)
    assert decoded.outputs is not None and [o.name for o in decoded.outputs] == ["label"]
    assert "classification" not in decoded.outputs[0].parameters


@pytest.mark.parametrize("count", [False, "0", 0.0])
def test_rest_refuses_a_classification_that_is_not_the_integer_zero(count: object):
    doc = {"inputs": [_X], "outputs": [{"name": "label", "parameters": {"classification": count}}]}
    with pytest.raises(Unsupported, match="classification extension"):
        decode_rest("m", None, orjson.dumps(doc), {}, LimitSettings(), check=None, received=0.0)
