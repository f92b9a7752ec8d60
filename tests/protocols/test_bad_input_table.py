"""One table of bad tensors (and bad requests for outputs), sent every way the wire allows: REST
JSON, the REST binary extension, gRPC ``raw_input_contents`` and gRPC typed contents.

Each case must fail with the same inferd error code whichever way it came (the HTTP status and
the gRPC status of that code) and with a message that names the tensor and the problem. A case
runs on every transport that can express it (a bad BYTES length prefix has no JSON form).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import numpy as np
import orjson
import pytest
from tritonclient.grpc import service_pb2

from inferd.errors import Code
from inferd.protocols.grpc.status import GRPC_STATUS
from inferd.protocols.http.messages import STATUS_BY_CODE
from protocols.conftest import TEST_LIMITS, Servers

ELEMENTS = TEST_LIMITS.max_tensor_elements
STRINGS = TEST_LIMITS.max_bytes_elements


@dataclass(frozen=True)
class Bad:
    """One bad tensor in each form it can take; a form left None does not exist for the case."""

    id: str
    datatype: str
    shape: list[int]
    code: Code
    words: tuple[str, ...]
    json: list[Any] | None = None
    raw: bytes | None = None
    #: gRPC typed contents: (field of InferTensorContents, values).
    typed: tuple[str, list[Any]] | None = None
    name: str = "x"
    model: str = "echo"
    #: The input's parameters (besides REST's binary_data_size).
    parameters: dict[str, Any] = field(default_factory=dict)
    #: Requested outputs: (name, parameters); none requested when empty.
    outputs: tuple[tuple[str, dict[str, Any]], ...] = ()


#: Over every transport, with the same words (gRPC said so first).
SHARED_MEMORY_REFUSAL = (
    "tensor 'x': shared-memory tensors are not supported; send the data in the request"
)


def _prefixed(*items: bytes) -> bytes:
    return b"".join(struct.pack("<I", len(b)) + b for b in items)


CASES = [
    Bad("unknown datatype", "FLOAT", [1], Code.INVALID_ARGUMENT,
        ("'x'", "unknown datatype 'FLOAT'"),
        json=[1.0], raw=b"\0" * 4, typed=("fp32_contents", [1.0])),
    Bad("datatype the model does not take", "INT32", [1, 3], Code.INVALID_ARGUMENT,
        ("'x'", "FP32"), model="sum",
        json=[1, 2, 3], raw=np.arange(3, dtype="<i4").tobytes(), typed=("int_contents", [1, 2, 3])),
    Bad("shape disagrees with the element count", "FP32", [2, 3], Code.INVALID_ARGUMENT,
        ("'x'", "shape [2, 3]", "needs"),
        json=[1, 2, 3], raw=b"\0" * 12, typed=("fp32_contents", [1, 2, 3])),
    Bad("huge declared shape, tiny data", "FP32", [2**31, 2**31], Code.INVALID_ARGUMENT,
        ("'x'", "needs"),
        json=[1], raw=b"\0" * 4, typed=("fp32_contents", [1.0])),
    Bad("truncated binary", "FP32", [1, 3], Code.INVALID_ARGUMENT,
        ("'x'", "needs 12 bytes", "has 8"), raw=b"\0" * 8),
    Bad("too many elements", "INT8", [1, ELEMENTS + 1], Code.PAYLOAD_TOO_LARGE,
        ("'x'", f"{ELEMENTS + 1} elements", f"limit of {ELEMENTS}", "max_tensor_elements"),
        json=[0] * (ELEMENTS + 1), raw=b"\0" * (ELEMENTS + 1),
        typed=("int_contents", [0] * (ELEMENTS + 1))),
    Bad("BOOL that is not 0 or 1", "BOOL", [2], Code.INVALID_ARGUMENT, ("'x'", "BOOL"),
        json=[True, 2], raw=b"\x01\x02"),
    Bad("integer beyond its datatype", "INT8", [2], Code.INVALID_ARGUMENT,
        ("'x'", "outside the range of INT8"),
        json=[1, 300], typed=("int_contents", [1, 300])),
    Bad("negative dimension", "FP32", [-1, 3], Code.INVALID_ARGUMENT,
        ("'x'", "negative dimension"),
        json=[1, 2, 3], raw=b"\0" * 12, typed=("fp32_contents", [1, 2, 3])),
    Bad("rank beyond the limit", "FP32", [1] * 5, Code.INVALID_ARGUMENT,
        ("'x'", "rank 5", "max_tensor_rank"),
        json=[1], raw=b"\0" * 4, typed=("fp32_contents", [1.0])),
    Bad("empty tensor with an absurd dimension", "FP32", [0, 2**40], Code.INVALID_ARGUMENT,
        ("'x'", "spans"), json=[], raw=b"", typed=("fp32_contents", [])),
    Bad("bad BYTES length prefix", "BYTES", [1], Code.INVALID_ARGUMENT,
        ("'s'", "declares 9 bytes but 2 remain"), name="s", raw=b"\x09\0\0\0ab"),
    Bad("truncated BYTES", "BYTES", [2], Code.INVALID_ARGUMENT,
        ("'s'", "ends before element 1"), name="s", raw=b"\1\0\0\0a\0\0\0"),
    Bad("BYTES left over", "BYTES", [1], Code.INVALID_ARGUMENT,
        ("'s'", "1 bytes left over"), name="s", raw=_prefixed(b"a") + b"z"),
    Bad("BYTES shape beyond the data", "BYTES", [2**40], Code.INVALID_ARGUMENT,
        ("'s'", "needs 1099511627776"), name="s",
        json=["a", "b"], raw=_prefixed(b"a", b"b"), typed=("bytes_contents", [b"a", b"b"])),
    Bad("too many BYTES elements", "BYTES", [STRINGS + 1], Code.PAYLOAD_TOO_LARGE,
        ("'s'", f"{STRINGS + 1} BYTES elements", f"limit of {STRINGS}", "max_bytes_elements"),
        name="s", json=["ab"] * (STRINGS + 1), raw=_prefixed(*[b"ab"] * (STRINGS + 1)),
        typed=("bytes_contents", [b"ab"] * (STRINGS + 1))),
    Bad("unknown model", "FP32", [1], Code.NOT_FOUND, ("'nope'",), model="nope",
        json=[1.0], raw=b"\0" * 4, typed=("fp32_contents", [1.0])),
    Bad("input in shared memory", "FP32", [1], Code.UNSUPPORTED, (SHARED_MEMORY_REFUSAL,),
        json=[1.0], raw=b"\0" * 4, typed=("fp32_contents", [1.0]),
        parameters={"shared_memory_region": "shm", "shared_memory_byte_size": 4}),
    Bad("output in shared memory", "FP32", [1], Code.UNSUPPORTED,
        ("tensor 'out_x': shared-memory tensors are not supported",),
        json=[1.0], raw=b"\0" * 4, typed=("fp32_contents", [1.0]),
        outputs=(("out_x", {"shared_memory_region": "shm", "shared_memory_offset": 0}),)),
    Bad("output requested twice", "FP32", [1], Code.INVALID_ARGUMENT,
        ("output 'out_x' is requested more than once",),
        json=[1.0], raw=b"\0" * 4, typed=("fp32_contents", [1.0]),
        outputs=(("out_x", {}), ("out_x", {}))),
    Bad("too many requested outputs", "FP32", [1], Code.INVALID_ARGUMENT,
        (f"{TEST_LIMITS.max_outputs + 1} requested outputs exceed the limit of "
         f"{TEST_LIMITS.max_outputs} (limits.max_outputs)",),
        json=[1.0], raw=b"\0" * 4, typed=("fp32_contents", [1.0]),
        outputs=tuple((f"o{k}", {}) for k in range(TEST_LIMITS.max_outputs + 1))),
]  # fmt: skip


def _header(case: Bad) -> dict[str, Any]:
    return {"name": case.name, "datatype": case.datatype, "shape": case.shape}


def _rest_doc(case: Bad, data: dict[str, Any]) -> bytes:
    """The JSON part: the input, its ``data`` or binary_data_size (in ``data``), the outputs."""
    parameters = {**case.parameters, **data.pop("parameters", {})}
    tensor = {**_header(case), **data, **({"parameters": parameters} if parameters else {})}
    doc: dict[str, Any] = {"inputs": [tensor]}
    if case.outputs:
        doc["outputs"] = [{"name": n, "parameters": p} for n, p in case.outputs]
    return orjson.dumps(doc)


def _rest(servers: Servers, body: bytes, headers: dict[str, str], case: Bad) -> tuple[str, str]:
    headers = {"content-type": "application/json", **headers}
    with httpx.Client(base_url=servers.rest.url, timeout=10) as client:
        answer = client.post(f"/v2/models/{case.model}/infer", content=body, headers=headers)
    return str(answer.status_code), answer.json()["error"]


def rest_json(servers: Servers, case: Bad) -> tuple[str, str]:
    return _rest(servers, _rest_doc(case, {"data": case.json}), {}, case)


def rest_binary(servers: Servers, case: Bad) -> tuple[str, str]:
    assert case.raw is not None
    text = _rest_doc(case, {"parameters": {"binary_data_size": len(case.raw)}})
    length = {"inference-header-content-length": str(len(text))}
    return _rest(servers, text + case.raw, length, case)


def _grpc(servers: Servers, request: service_pb2.ModelInferRequest) -> tuple[str, str]:
    with grpc.insecure_channel(f"127.0.0.1:{servers.grpc.port}") as channel:
        call = channel.unary_unary(
            "/inference.GRPCInferenceService/ModelInfer",
            request_serializer=service_pb2.ModelInferRequest.SerializeToString,
            response_deserializer=service_pb2.ModelInferResponse.FromString,
        )
        with pytest.raises(grpc.RpcError) as caught:
            call(request, timeout=10)
    return str(caught.value.code()), str(caught.value.details())


def _set_parameters(target: Any, parameters: dict[str, Any]) -> None:
    for key, value in parameters.items():
        kind = {bool: "bool_param", int: "int64_param", str: "string_param"}[type(value)]
        setattr(target[key], kind, value)


def _grpc_request(case: Bad, **fields: Any) -> service_pb2.ModelInferRequest:
    """The request with the case's input (its header and parameters) and outputs, no data."""
    request = service_pb2.ModelInferRequest(model_name=case.model, **fields)
    _set_parameters(request.inputs.add(**_header(case)).parameters, case.parameters)
    for name, parameters in case.outputs:
        _set_parameters(request.outputs.add(name=name).parameters, parameters)
    return request


def grpc_raw(servers: Servers, case: Bad) -> tuple[str, str]:
    return _grpc(servers, _grpc_request(case, raw_input_contents=[case.raw]))


def grpc_typed(servers: Servers, case: Bad) -> tuple[str, str]:
    assert case.typed is not None
    request = _grpc_request(case)
    contents, values = case.typed
    getattr(request.inputs[0].contents, contents).extend(values)
    return _grpc(servers, request)


Send = Callable[[Servers, Bad], tuple[str, str]]
TRANSPORTS: list[tuple[str, Send, Callable[[Bad], bool], Callable[[Code], str]]] = [
    ("REST JSON", rest_json, lambda c: c.json is not None, lambda c: str(STATUS_BY_CODE[c])),
    ("REST binary", rest_binary, lambda c: c.raw is not None, lambda c: str(STATUS_BY_CODE[c])),
    ("gRPC raw", grpc_raw, lambda c: c.raw is not None, lambda c: str(GRPC_STATUS[c])),
    ("gRPC typed", grpc_typed, lambda c: c.typed is not None, lambda c: str(GRPC_STATUS[c])),
]

PARAMS = [
    pytest.param(case, send, status, id=f"{case.id} / {transport}")
    for case in CASES
    for transport, send, applies, status in TRANSPORTS
    if applies(case)
]


@pytest.mark.parametrize(("case", "send", "status"), PARAMS)
def test_a_bad_tensor_gets_the_same_answer_on_every_transport(
    rest_and_grpc: Servers, case: Bad, send: Send, status: Callable[[Code], str]
) -> None:
    got, message = send(rest_and_grpc, case)
    assert got == status(case.code), message
    for word in case.words:
        assert word in message, message
    assert "Traceback" not in message


def test_every_case_runs_on_at_least_two_transports() -> None:
    for case in CASES:
        assert sum(applies(case) for _, _, applies, _ in TRANSPORTS) >= 2, case.id
