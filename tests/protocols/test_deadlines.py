"""Per-request timeouts over REST (``parameters.timeout_ms``, ``Inference-Timeout-Ms``) reach the
batcher the way gRPC deadlines do, and end the same way: DEADLINE_EXCEEDED (504 / gRPC status).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import orjson
import pytest
import uvloop
from tritonclient.grpc import service_pb2

from inferd.errors import Code
from inferd.protocols.grpc import GrpcHandle, serve_grpc
from inferd.protocols.grpc.status import GRPC_STATUS
from inferd.protocols.http import HttpServer
from inferd.protocols.http.host import HttpLimits
from inferd.protocols.http.messages import STATUS_BY_CODE
from inferd.protocols.v2.routes import data_router
from inferd.serving.dataplane import ServingDataPlane
from inferd.store import ModelStore
from protocols.conftest import TEST_LIMITS, Running, metrics_text
from serving.conftest import FEATURES, Harness, Probe, rows


def _body(timeout_ms: object = None, start: float = 1.0) -> bytes:
    doc: dict[str, object] = {
        "inputs": [{"name": "x", "shape": [1, FEATURES], "datatype": "FP32",
                    "data": rows(1, start).ravel().tolist()}]
    }  # fmt: skip
    if timeout_ms is not None:
        doc["parameters"] = {"timeout_ms": timeout_ms}
    return orjson.dumps(doc)


# --- the deadline reaches the data plane --------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "headers", "timeout_s"),
    [
        (_body(2500), {}, 2.5),
        (_body(), {"Inference-Timeout-Ms": "1500"}, 1.5),
        (_body(2500), {"Inference-Timeout-Ms": "1500"}, 1.5),
    ],
)
def test_a_rest_timeout_reaches_the_data_plane(
    data_server: Running, body: bytes, headers: dict[str, str], timeout_s: float
) -> None:
    before = time.monotonic()
    answer = httpx.post(f"{data_server.url}/v2/models/echo/infer", content=body, headers=headers)
    after = time.monotonic()
    assert answer.status_code == 200, answer.text
    deadline = data_server.dataplane.received["echo"].deadline
    assert deadline is not None
    assert before + timeout_s <= deadline <= after + timeout_s


def test_without_a_timeout_the_server_default_applies(data_server: Running) -> None:
    answer = httpx.post(f"{data_server.url}/v2/models/echo/infer", content=_body())
    assert answer.status_code == 200
    assert data_server.dataplane.received["echo"].deadline is None


@pytest.mark.parametrize(
    ("body", "headers", "where"),
    [
        (_body(0), {}, "parameters.timeout_ms"),
        (_body(2.5), {}, "parameters.timeout_ms"),
        (_body("100"), {}, "parameters.timeout_ms"),
        (_body(), {"Inference-Timeout-Ms": "1e3"}, "Inference-Timeout-Ms"),
    ],
)
def test_an_invalid_rest_timeout_is_a_400(
    data_server: Running, body: bytes, headers: dict[str, str], where: str
) -> None:
    answer = httpx.post(f"{data_server.url}/v2/models/echo/infer", content=body, headers=headers)
    assert answer.status_code == 400
    assert answer.json()["error"].startswith(f"{where} must be a whole number of milliseconds")
    assert "echo" not in data_server.dataplane.received


# --- against a real batcher, behind a model that is busy ----------------------------------------


@dataclass
class Busy:
    """A real data plane over one model (``m``), with REST and gRPC listeners in front of it."""

    plane: ServingDataPlane
    probe: Probe
    rest_url: str
    grpc: GrpcHandle
    loop: asyncio.AbstractEventLoop


@pytest.fixture
def busy(tmp_path: Path) -> Iterator[Busy]:
    harness = Harness(ModelStore(tmp_path / "home"), Probe(), tmp_path)
    harness.push("m:v1")
    loop = uvloop.new_event_loop()
    pool = ThreadPoolExecutor(1)
    pool.submit(loop.run_forever)

    async def boot() -> tuple[ServingDataPlane, HttpServer, GrpcHandle]:
        plane, manager, _ = harness.plane(batching={"max_batch_size": 1})
        await manager.serve(["m:v1"])
        http = HttpServer(
            data_router(plane, TEST_LIMITS, metrics_text), HttpLimits.from_settings(TEST_LIMITS)
        )
        await http.start("127.0.0.1", 0)
        return plane, http, await serve_grpc(plane, "127.0.0.1", 0, TEST_LIMITS)

    plane, http, handle = asyncio.run_coroutine_threadsafe(boot(), loop).result(60)
    try:
        yield Busy(plane, harness.probe, f"http://127.0.0.1:{http.port}", handle, loop)
    finally:
        harness.probe.release()

        async def stop() -> None:
            await handle.stop(1.0)
            await http.stop(1.0)
            await plane.close()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        pool.shutdown(wait=True)
        loop.close()


def test_a_rest_timeout_and_a_grpc_deadline_end_the_same_way(busy: Busy) -> None:
    busy.probe.hold()
    with ThreadPoolExecutor(1) as background:
        # The first request holds the model; the ones below queue behind it.
        first = background.submit(httpx.post, f"{busy.rest_url}/v2/models/m/infer", content=_body())
        assert busy.probe.entered.wait(10)

        rest = httpx.post(f"{busy.rest_url}/v2/models/m/infer", content=_body(100, start=2.0))

        request = service_pb2.ModelInferRequest(model_name="m")
        tensor = request.inputs.add(name="x", datatype="FP32", shape=[1, FEATURES])
        tensor.contents.fp32_contents.extend(rows(1, 3.0).ravel().tolist())
        with grpc.insecure_channel(f"127.0.0.1:{busy.grpc.port}") as channel:
            call = channel.unary_unary(
                "/inference.GRPCInferenceService/ModelInfer",
                request_serializer=service_pb2.ModelInferRequest.SerializeToString,
                response_deserializer=service_pb2.ModelInferResponse.FromString,
            )
            with pytest.raises(grpc.RpcError) as caught:
                call(request, timeout=0.1)

        busy.probe.release()
        assert first.result(10).status_code == 200

    assert rest.status_code == STATUS_BY_CODE[Code.DEADLINE_EXCEEDED], rest.text
    assert "deadline passed while queued for m:v1" in rest.json()["error"]
    assert caught.value.code() == GRPC_STATUS[Code.DEADLINE_EXCEEDED]
    # Neither expired request ran: the model saw only the first one's row.
    assert busy.probe.rows == [1]
