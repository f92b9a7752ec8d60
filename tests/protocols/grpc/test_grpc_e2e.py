"""tritonclient's gRPC client against a whole inferd server: store → manager → data plane → gRPC.

One ONNX model with FP32, INT64 and FP16 inputs is pushed to a fresh store, served by
:func:`inferd.server.build_server` on free loopback ports, and every answer is compared with the
same model run in process by onnxruntime.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.grpc as triton
from onnx import TensorProto, helper
from tritonclient.grpc import service_pb2
from tritonclient.utils import InferenceServerException

from inferd.config import ServerSettings, StoreSettings
from inferd.packaging import push
from inferd.server import Server, build_server
from inferd.store import ModelStore


def _model() -> bytes:
    """y = 2x (FP32), m = n + n (INT64), g = 2h computed in FP32 (FP16)."""
    node = helper.make_node
    graph = helper.make_graph(
        [
            node("Add", ["x", "x"], ["y"]),
            node("Add", ["n", "n"], ["m"]),
            node("Cast", ["h"], ["hf"], to=TensorProto.FLOAT),
            node("Add", ["hf", "hf"], ["gf"]),
            node("Cast", ["gf"], ["g"], to=TensorProto.FLOAT16),
        ],
        "mixed",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3]),
            helper.make_tensor_value_info("n", TensorProto.INT64, [None, 2]),
            helper.make_tensor_value_info("h", TensorProto.FLOAT16, [None, 2]),
        ],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3]),
            helper.make_tensor_value_info("m", TensorProto.INT64, [None, 2]),
            helper.make_tensor_value_info("g", TensorProto.FLOAT16, [None, 2]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


@pytest.fixture
def server(inferd_home: Path, tmp_path: Path) -> Iterator[Server]:
    path = tmp_path / "mixed.onnx"
    path.write_bytes(_model())
    push(ModelStore(inferd_home), path, "mixed:v1")
    settings = ServerSettings(
        port=0,
        grpc_port=0,
        control_port=0,
        control_grpc_port=0,
        store=StoreSettings(home=inferd_home),
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = build_server(settings, ["mixed:v1"])
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(60)
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.shutdown(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_tritonclient_grpc_against_the_whole_server(server: Server) -> None:
    feeds = {
        "x": np.array([[0.5, -1, 2], [3, 4, 5]], dtype=np.float32),
        "n": np.array([[1, -(2**40)], [7, 0]], dtype=np.int64),
        "h": np.array([[0.25, -3], [100, 1]], dtype=np.float16),
    }
    datatypes = {"x": "FP32", "n": "INT64", "h": "FP16"}
    session = ort.InferenceSession(_model(), providers=["CPUExecutionProvider"])
    expected = dict(zip(["y", "m", "g"], session.run(None, feeds), strict=True))

    with triton.InferenceServerClient(f"127.0.0.1:{server.grpc_port}") as client:
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("mixed")
        metadata = client.get_model_metadata("mixed", as_json=True)
        assert [i["name"] for i in metadata["inputs"]] == ["x", "n", "h"]
        inputs = []
        for name, array in feeds.items():
            tensor = triton.InferInput(name, list(array.shape), datatypes[name])
            inputs.append(tensor.set_data_from_numpy(array))
        result = client.infer("mixed", inputs, request_id="e2e")
        assert result.get_response().id == "e2e"
        for name, want in expected.items():
            got = result.as_numpy(name)
            assert got.dtype == want.dtype, name
            np.testing.assert_array_equal(got, want)

        with pytest.raises(InferenceServerException) as caught:
            client.infer("absent", inputs)
        assert caught.value.status() == "StatusCode.NOT_FOUND"
        assert "'absent'" in caught.value.message()


def test_an_inference_without_a_model_name_is_invalid_argument(server: Server) -> None:
    """As the codec says (model_name is required), not NOT_FOUND for a model named ''."""
    request = service_pb2.ModelInferRequest()
    request.inputs.add(name="x", datatype="FP32", shape=[1, 3]).contents.fp32_contents.extend(
        [1.0, 2.0, 3.0]
    )
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        call = channel.unary_unary(
            "/inference.GRPCInferenceService/ModelInfer",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=service_pb2.ModelInferResponse.FromString,
        )
        with pytest.raises(grpc.RpcError) as caught:
            call(request, timeout=30)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == "model_name is required"
