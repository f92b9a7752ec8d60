"""Big bodies are decoded in a worker thread and small ones on the event loop, over REST and gRPC;
a body that disagrees with the model's signature is refused before its data is decoded.

Transports check each input's header against the model while they decode, so the data plane
double's :class:`HeaderLog` shows on which thread decoding ran.
"""

from __future__ import annotations

import asyncio
import sys
import threading

import grpc
import httpx
import numpy as np
import orjson
import pytest
from tritonclient.grpc import service_pb2

from inferd.config import LimitSettings
from inferd.protocols.offload import Decoder
from inferd.switching import SHORT_SWITCH_INTERVAL_S
from protocols.conftest import TEST_LIMITS, Servers

INLINE = TEST_LIMITS.inline_decode_bytes


async def _ident() -> int:
    return threading.get_ident()


def _loop_thread(servers: Servers) -> int:
    return asyncio.run_coroutine_threadsafe(_ident(), servers.rest.loop).result(10)


def _rest_infer(
    servers: Servers, model: str, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    with httpx.Client(base_url=servers.rest.url, timeout=10) as client:
        return client.post(f"/v2/models/{model}/infer", content=body, headers=headers)


def _grpc_infer(servers: Servers, request: service_pb2.ModelInferRequest) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{servers.grpc.port}") as channel:
        call = channel.unary_unary(
            "/inference.GRPCInferenceService/ModelInfer",
            request_serializer=service_pb2.ModelInferRequest.SerializeToString,
            response_deserializer=service_pb2.ModelInferResponse.FromString,
        )
        call(request, timeout=10)


@pytest.mark.parametrize(("elements", "on_loop"), [(16, True), (INLINE, False)])
def test_rest_decodes_big_bodies_off_the_event_loop(
    rest_and_grpc: Servers, elements: int, on_loop: bool
) -> None:
    doc = {"inputs": [{"name": "x", "shape": [1, elements], "datatype": "FP32",
                       "data": [0.5] * elements}]}  # fmt: skip
    body = orjson.dumps(doc)
    assert (len(body) <= INLINE) == on_loop
    answer = _rest_infer(rest_and_grpc, "echo", body, {"content-type": "application/json"})
    assert answer.status_code == 200, answer.text
    decoded_on = rest_and_grpc.rest.dataplane.headers.threads[-1]
    assert (decoded_on == _loop_thread(rest_and_grpc)) == on_loop


@pytest.mark.parametrize(("elements", "on_loop"), [(16, True), (INLINE, False)])
def test_grpc_decodes_big_messages_off_the_event_loop(
    rest_and_grpc: Servers, elements: int, on_loop: bool
) -> None:
    raw = np.full(elements, 0.5, dtype="<f4").tobytes()
    request = service_pb2.ModelInferRequest(model_name="echo", raw_input_contents=[raw])
    request.inputs.add(name="x", datatype="FP32", shape=[1, elements])
    _grpc_infer(rest_and_grpc, request)
    decoded_on = rest_and_grpc.rest.dataplane.headers.threads[-1]
    assert (decoded_on == _loop_thread(rest_and_grpc)) == on_loop


def _strings(count: int) -> bytes:
    return b"\0\0\0\0" * count  # ``count`` empty BYTES elements


def test_a_datatype_mismatch_is_refused_before_decoding_rest(rest_and_grpc: Servers) -> None:
    # More BYTES elements than the limit: had the data been decoded first, this would be 413.
    count = 10 * TEST_LIMITS.max_bytes_elements
    raw = _strings(count)
    doc = {"inputs": [{"name": "x", "shape": [1, count], "datatype": "BYTES",
                       "parameters": {"binary_data_size": len(raw)}}]}  # fmt: skip
    text = orjson.dumps(doc)
    headers = {"inference-header-content-length": str(len(text))}
    answer = _rest_infer(rest_and_grpc, "sum", text + raw, headers)
    assert answer.status_code == 400
    assert answer.json()["error"] == "tensor 'x': expected datatype FP32 but got BYTES"


def test_a_datatype_mismatch_is_refused_before_decoding_grpc(rest_and_grpc: Servers) -> None:
    count = 10 * TEST_LIMITS.max_bytes_elements
    request = service_pb2.ModelInferRequest(model_name="sum", raw_input_contents=[_strings(count)])
    request.inputs.add(name="x", datatype="BYTES", shape=[1, count])
    with pytest.raises(grpc.RpcError) as caught:
        _grpc_infer(rest_and_grpc, request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == "tensor 'x': expected datatype FP32 but got BYTES"


def test_worker_thread_decodes_run_with_a_1_ms_switch_interval() -> None:
    """Inline decodes leave the interval alone; overlapping worker decodes (two protocols) keep
    it at 1 ms until the last one ends, which restores it."""
    limits = LimitSettings(inline_decode_bytes=1024)
    before = sys.getswitchinterval()

    async def scenario() -> tuple[float, float, float]:
        both = threading.Barrier(2, timeout=5)
        first_done = threading.Event()

        def first() -> float:
            both.wait()
            return sys.getswitchinterval()

        def second() -> float:
            both.wait()
            first_done.wait(5)
            return sys.getswitchinterval()

        inline = await Decoder(limits).decode(sys.getswitchinterval, 1024)
        later = asyncio.ensure_future(Decoder(limits).decode(second, 1025))
        seen_first = await Decoder(limits).decode(first, 1025)
        first_done.set()
        return inline, seen_first, await later

    assert asyncio.run(scenario()) == (before, SHORT_SWITCH_INTERVAL_S, 0.001)
    assert sys.getswitchinterval() == before
