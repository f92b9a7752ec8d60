"""Reading and renaming the model of a gRPC request at the wire level agrees with protobuf's own
parser, and leaves every other byte as the client sent it."""

from __future__ import annotations

import numpy as np
import pytest

from inferd.control.gateway.grpc_wire import model_named, renamed
from inferd.errors import InvalidArgument
from inferd.protocols._generated import inference_pb2 as pb


def infer_request(name: str, version: str = "", raw_bytes: int = 32) -> pb.ModelInferRequest:
    message = pb.ModelInferRequest(model_name=name, model_version=version, id="req-7")
    message.parameters["priority"].int64_param = 3
    for i, datatype in enumerate(("FP32", "INT64", "BYTES")):
        message.inputs.add(name=f"in{i}", datatype=datatype, shape=[1, raw_bytes // 4])
        message.raw_input_contents.append(np.arange(raw_bytes, dtype=np.uint8).tobytes())
    message.outputs.add(name="out")
    return message


Named = (
    pb.ModelInferRequest
    | pb.ModelMetadataRequest
    | pb.ModelReadyRequest
    | pb.ModelStatisticsRequest
)

MESSAGES: list[Named] = [
    infer_request("fraud"),
    infer_request("fraud", "v2"),
    infer_request("fraud-prod", "canary", raw_bytes=1 << 20),  # multi-byte lengths
    infer_request(""),
    pb.ModelMetadataRequest(name="fraud", version="3"),
    pb.ModelReadyRequest(name="échec"),  # UTF-8 names
    pb.ModelStatisticsRequest(),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_model_named_reads_what_protobuf_reads(message: Named) -> None:
    if isinstance(message, pb.ModelInferRequest):
        expected = (message.model_name, message.model_version)
    else:
        expected = (message.name, message.version)
    assert model_named(message.SerializeToString()) == expected


@pytest.mark.parametrize("version", ["", "v2"])
@pytest.mark.parametrize("model", ["fraud", "fraud-model-with-a-much-longer-name" * 4])
def test_renamed_names_the_replicas_model_and_no_version(model: str, version: str) -> None:
    original = infer_request("fraud-prod", version, raw_bytes=4096)
    data = original.SerializeToString()
    out = renamed(data, model, model_named(data))
    assert out.startswith(data)  # the client's bytes, then the override
    parsed = pb.ModelInferRequest.FromString(out)
    assert (parsed.model_name, parsed.model_version) == (model, "")
    expected = pb.ModelInferRequest()
    expected.CopyFrom(original)
    expected.model_name, expected.model_version = model, ""
    assert parsed == expected


def test_a_request_already_naming_the_replicas_model_is_forwarded_as_is() -> None:
    data = infer_request("fraud").SerializeToString()
    assert renamed(data, "fraud", model_named(data)) is data


def test_the_last_value_of_a_repeated_name_wins_as_in_protobuf() -> None:
    data = (
        infer_request("first").SerializeToString()
        + pb.ModelInferRequest(model_name="second").SerializeToString()
    )
    assert pb.ModelInferRequest.FromString(data).model_name == "second"
    assert model_named(data) == ("second", "")


def test_unknown_fields_with_long_tags_and_fixed_widths_are_skipped() -> None:
    # field 100 varint, field 16 fixed64, field 17 fixed32, then the name
    data = b"\xa0\x06\x96\x01" + b"\x81\x01" + bytes(8) + b"\x8d\x01" + bytes(4) + b"\x0a\x02ab"
    assert model_named(data) == ("ab", "")


@pytest.mark.parametrize(
    "data",
    [
        infer_request("fraud").SerializeToString()[:-3],  # truncated inside a field
        b"\x0a\x10short",  # a length past the end
        b"\x0b",  # a group (not proto3)
        b"\x02\x00",  # field number 0
        b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",  # a varint beyond 64 bits
        b"\x0a\x02\xff\xfe",  # a name that is not UTF-8
    ],
)
def test_what_is_not_a_protobuf_message_is_refused(data: bytes) -> None:
    with pytest.raises(InvalidArgument):
        model_named(data)
