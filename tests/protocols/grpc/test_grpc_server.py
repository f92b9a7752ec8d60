"""tritonclient's gRPC client against inferd's gRPC listeners on loopback ports.

The data plane behind the listeners is a small double that runs real ONNX models in
onnxruntime, so every answer is checked against the same model run in process. Malformed requests
that tritonclient refuses to build are sent with Triton's own generated messages on a raw channel.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.grpc as triton
from onnx import TensorProto, helper
from tritonclient.grpc import service_pb2
from tritonclient.utils import InferenceServerException

from inferd.card import TensorSpec
from inferd.config import LimitSettings
from inferd.errors import Code, InvalidTensor, ModelNotFound, Unavailable
from inferd.protocols.grpc import GrpcHandle, serve_grpc
from inferd.protocols.grpc.status import GRPC_STATUS
from inferd.serving.stats import (
    InferBatchStatistics,
    InferStatistics,
    ModelStatistics,
    StatisticDuration,
    VersionState,
)
from inferd.serving.types import (
    InferRequest,
    InferResponse,
    ModelInfo,
    RepositoryEntry,
    ServerInfo,
    Tensor,
)

LIMITS = LimitSettings(max_body_bytes=256 * 1024, max_tensor_elements=100_000)


def _model(nodes: list[Any], inputs: list[Any], outputs: list[Any], inits: list[Any]) -> bytes:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def _io(name: str, elem: int, shape: list[Any]) -> Any:
    return helper.make_tensor_value_info(name, elem, shape)


W = np.arange(6, dtype=np.float32).reshape(3, 2) / 4
MODELS: dict[str, bytes] = {
    # y = x @ W + 1
    "affine": _model(
        [helper.make_node("MatMul", ["x", "W"], ["xw"]),
         helper.make_node("Add", ["xw", "b"], ["y"])],
        [_io("x", TensorProto.FLOAT, [None, 3])],
        [_io("y", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor("W", TensorProto.FLOAT, [3, 2], W.ravel().tolist()),
         helper.make_tensor("b", TensorProto.FLOAT, [2], [1.0, 1.0])],
    ),
    # m = n * 3
    "triple": _model(
        [helper.make_node("Mul", ["n", "three"], ["m"])],
        [_io("n", TensorProto.INT64, [None, 2])],
        [_io("m", TensorProto.INT64, [None, 2])],
        [helper.make_tensor("three", TensorProto.INT64, [], [3])],
    ),
    # g = h * 2, computed in FP32 between two casts
    "half": _model(
        [helper.make_node("Cast", ["h"], ["f"], to=TensorProto.FLOAT),
         helper.make_node("Mul", ["f", "two"], ["f2"]),
         helper.make_node("Cast", ["f2"], ["g"], to=TensorProto.FLOAT16)],
        [_io("h", TensorProto.FLOAT16, [None, 2])],
        [_io("g", TensorProto.FLOAT16, [None, 2])],
        [helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])],
    ),
    # t = upper(s)
    "shout": _model(
        [helper.make_node("StringNormalizer", ["s"], ["t"], case_change_action="UPPER",
                          locale="C")],
        [_io("s", TensorProto.STRING, [None])],
        [_io("t", TensorProto.STRING, [None])],
        [],
    ),
}  # fmt: skip
_ONNX_TYPES = {
    "tensor(float)": "FP32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(string)": "BYTES",
}


def _map(convert: Any, array: np.ndarray) -> np.ndarray:
    """Apply ``convert`` to each element of an object array (bytes ⇄ str for onnxruntime)."""
    return np.array([convert(item) for item in array.ravel()], dtype=object).reshape(array.shape)


def _session(model: bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


class OnnxDataPlane:
    """A data plane over in-memory onnxruntime sessions, one version ("1") per model."""

    def __init__(self) -> None:
        self.sessions = {name: _session(model) for name, model in MODELS.items()}
        self.received: list[tuple[InferRequest, float]] = []
        self.loads: list[tuple[str, str | None]] = []
        self.unloads: list[str] = []
        self.fail_with: Exception | None = None
        #: Seconds each inference waits before running, and how many waits were cancelled.
        self.hold_s = 0.0
        self.cancelled = 0

    def _session(self, name: str, version: str | None) -> ort.InferenceSession:
        if name not in self.sessions or version not in (None, "1"):
            raise ModelNotFound(name, version)
        return self.sessions[name]

    def live(self) -> bool:
        return True

    def ready(self) -> bool:
        return True

    def model_ready(self, name: str, version: str | None = None) -> bool:
        return name in self.sessions and version in (None, "1")

    def server_metadata(self) -> ServerInfo:
        return ServerInfo("inferd", "test", ("model_repository",))

    def model_metadata(self, name: str, version: str | None = None) -> ModelInfo:
        session = self._session(name, version)

        def specs(args: list[Any]) -> tuple[TensorSpec, ...]:
            return tuple(
                TensorSpec(
                    name=a.name,
                    datatype=_ONNX_TYPES[a.type],
                    shape=tuple(d if isinstance(d, int) else -1 for d in a.shape),
                )
                for a in args
            )

        return ModelInfo(
            name=name,
            versions=("1",),
            platform="onnx_onnxv1",
            inputs=specs(session.get_inputs()),
            outputs=specs(session.get_outputs()),
        )

    def input_check(self, name: str, version: str | None = None) -> None:
        return None  # infer checks the datatypes against the session's

    def refused(self, name: str, version: str | None = None) -> None:
        """Counted by the real data plane (tests/protocols/v2/test_refusals_counted.py)."""

    async def infer(self, request: InferRequest) -> InferResponse:
        self.received.append((request, time.monotonic()))
        if self.fail_with is not None:
            raise self.fail_with
        try:
            await asyncio.sleep(self.hold_s)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        session = self._session(request.model, request.version)
        expected = {a.name: _ONNX_TYPES[a.type] for a in session.get_inputs()}
        feeds = {}
        for tensor in request.inputs:
            if expected.get(tensor.name) != tensor.datatype:
                raise InvalidTensor(
                    tensor.name, f"expected {expected.get(tensor.name)}, got {tensor.datatype}"
                )
            feeds[tensor.name] = (
                _map(bytes.decode, tensor.data) if expected[tensor.name] == "BYTES" else tensor.data
            )
        outputs = {a.name: _ONNX_TYPES[a.type] for a in session.get_outputs()}
        names = [o.name for o in request.outputs] if request.outputs else list(outputs)
        results = session.run(names, feeds)
        tensors = [
            Tensor(name, outputs[name], _map(str.encode, r) if outputs[name] == "BYTES" else r)
            for name, r in zip(names, results, strict=True)
        ]
        return InferResponse(request.model, "1", tensors, id=request.id)

    def repository_index(self, ready_only: bool = False) -> list[RepositoryEntry]:
        return [RepositoryEntry(n, "1", VersionState.READY) for n in self.sessions]

    async def load(self, name: str, reference: str | None = None) -> None:
        self.loads.append((name, reference))

    async def unload(self, name: str) -> None:
        self._session(name, None)
        self.unloads.append(name)

    def model_stats(
        self, name: str | None = None, version: str | None = None
    ) -> list[ModelStatistics]:
        names = [name] if name else sorted(self.sessions)
        return [
            ModelStatistics(
                name=n,
                version="1",
                last_inference=1700000000000,
                inference_count=4,
                execution_count=2,
                inference_stats=InferStatistics(success=StatisticDuration(4, 800)),
                batch_stats=(InferBatchStatistics(2, compute_infer=StatisticDuration(2, 500)),),
            )
            for n in names
        ]


@dataclass
class Served:
    handle: GrpcHandle
    dataplane: OnnxDataPlane
    loop: asyncio.AbstractEventLoop

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.handle.port}"


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop in a thread, so the synchronous tritonclient can call servers on it."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


@pytest.fixture(scope="module")
def data(loop: asyncio.AbstractEventLoop) -> Iterator[Served]:
    dataplane = OnnxDataPlane()
    start = serve_grpc(dataplane, "127.0.0.1", 0, LIMITS)
    handle = asyncio.run_coroutine_threadsafe(start, loop).result(10)
    yield Served(handle, dataplane, loop)
    asyncio.run_coroutine_threadsafe(handle.stop(1.0), loop).result(10)


@pytest.fixture(autouse=True)
def _fresh_behaviour(data: Served) -> None:
    data.dataplane.fail_with, data.dataplane.hold_s = None, 0.0


@pytest.fixture
def client(data: Served) -> Iterator[triton.InferenceServerClient]:
    with triton.InferenceServerClient(data.url) as client:
        yield client


def _infer(
    client: triton.InferenceServerClient,
    model: str,
    name: str,
    array: np.ndarray,
    datatype: str,
    **kwargs: Any,
) -> Any:
    tensor = triton.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array)
    return client.infer(model, [tensor], **kwargs)


def _raw_infer(url: str, request: service_pb2.ModelInferRequest) -> Any:
    """ModelInfer with Triton's own messages, for requests tritonclient refuses to build."""
    with grpc.insecure_channel(url) as channel:
        call = channel.unary_unary(
            "/inference.GRPCInferenceService/ModelInfer",
            request_serializer=service_pb2.ModelInferRequest.SerializeToString,
            response_deserializer=service_pb2.ModelInferResponse.FromString,
        )
        return call(request, timeout=10)


def _rpc_error(call: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


# --- health and metadata --------------------------------------------------------------------


def test_health_and_readiness(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("affine")
    assert client.is_model_ready("affine", "1")
    assert not client.is_model_ready("nope")


def test_server_metadata(client: triton.InferenceServerClient) -> None:
    metadata = client.get_server_metadata(as_json=True)
    assert metadata == {"name": "inferd", "version": "test", "extensions": ["model_repository"]}


def test_model_metadata(client: triton.InferenceServerClient) -> None:
    metadata = client.get_model_metadata("affine", as_json=True)
    assert metadata["name"] == "affine"
    assert metadata["versions"] == ["1"]
    assert metadata["platform"] == "onnx_onnxv1"
    assert metadata["inputs"] == [{"name": "x", "datatype": "FP32", "shape": ["-1", "3"]}]
    assert metadata["outputs"] == [{"name": "y", "datatype": "FP32", "shape": ["-1", "2"]}]


def test_model_config_is_refused_naming_model_metadata(
    client: triton.InferenceServerClient,
) -> None:
    """As REST's GET …/config (501): grpc's own "Method not found!" named neither the
    extension nor where the inputs and outputs are; an unknown model is NOT_FOUND, as there."""
    with pytest.raises(InferenceServerException) as caught:
        client.get_model_config("affine")
    assert caught.value.status() == "StatusCode.UNIMPLEMENTED"
    assert caught.value.message() == (
        "Triton's model configuration extension (ModelConfig) is not supported: inferd has no "
        "model configuration; ModelMetadata gives the model's inputs and outputs"
    )
    with pytest.raises(InferenceServerException) as unknown:
        client.get_model_config("nope")
    assert unknown.value.status() == "StatusCode.NOT_FOUND"


def test_stream_infer_is_refused_saying_so(data: Served) -> None:
    """tritonclient's start_stream / async_stream_infer: grpc's own "Method not found!" did not
    say that streaming is what is not served, nor what to call instead (inferd up's gateway
    does)."""
    request = service_pb2.ModelInferRequest(model_name="affine")
    with grpc.insecure_channel(data.url) as channel:
        call = channel.stream_stream(
            "/inference.GRPCInferenceService/ModelStreamInfer",
            request_serializer=service_pb2.ModelInferRequest.SerializeToString,
            response_deserializer=service_pb2.ModelStreamInferResponse.FromString,
        )
        error = _rpc_error(lambda: list(call(iter([request]), timeout=10)))
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED
    assert error.details() == (
        "ModelStreamInfer is not served: inferd serve has no streaming inference; "
        "use ModelInfer for each request"
    )


def test_model_statistics(client: triton.InferenceServerClient) -> None:
    stats = client.get_inference_statistics("affine", as_json=True)["model_stats"]
    assert stats[0]["name"] == "affine"
    assert stats[0]["inference_count"] == "4"
    assert stats[0]["inference_stats"]["success"] == {"count": "4", "ns": "800"}
    assert stats[0]["batch_stats"][0]["batch_size"] == "2"


def test_statistics_of_a_version_without_a_model_name_are_refused(
    client: triton.InferenceServerClient,
) -> None:
    """Not every model's statistics, the version silently dropped: REST has no such route."""
    with pytest.raises(InferenceServerException) as caught:
        client.get_inference_statistics("", "1")
    assert caught.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert caught.value.message() == (
        "version '1' is given without a model name; name the model, or leave both empty "
        "for the statistics of every model"
    )


# --- inference, checked against the same model run in process ----------------------------------


@pytest.mark.parametrize(
    ("model", "name", "array", "datatype"),
    [
        ("affine", "x", np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3), "FP32"),
        ("triple", "n", np.array([[1, -2], [2**40, 7]], dtype=np.int64), "INT64"),
        ("half", "h", np.array([[0.5, -1.25], [3, 1e3]], dtype=np.float16), "FP16"),
        ("shout", "s", np.array([b"hello", b"", b"gRPC ok"], dtype=object), "BYTES"),
    ],
)
def test_infer_matches_onnxruntime(
    client: triton.InferenceServerClient, model: str, name: str, array: np.ndarray, datatype: str
) -> None:
    result = _infer(client, model, name, array, datatype, request_id="req-7")
    session = _session(MODELS[model])
    feed = _map(bytes.decode, array) if datatype == "BYTES" else array
    (expected,) = session.run(None, {name: feed})
    if datatype == "BYTES":
        expected = _map(str.encode, expected)
    got = result.as_numpy(session.get_outputs()[0].name)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
    response = result.get_response()
    assert response.id == "req-7"
    assert response.model_name == model
    assert response.model_version == "1"
    assert response.outputs[0].datatype == datatype


def test_requested_outputs_and_version(client: triton.InferenceServerClient) -> None:
    x = np.ones((1, 3), dtype=np.float32)
    result = _infer(
        client,
        "affine",
        "x",
        x,
        "FP32",
        model_version="1",
        outputs=[triton.InferRequestedOutput("y")],
    )
    np.testing.assert_allclose(result.as_numpy("y"), x @ W + 1)


def test_typed_contents_get_a_typed_reply(data: Served) -> None:
    request = service_pb2.ModelInferRequest(model_name="triple", id="typed")
    tensor = request.inputs.add(name="n", datatype="INT64", shape=[1, 2])
    tensor.contents.int64_contents.extend([5, -6])
    reply = _raw_infer(data.url, request)
    assert not reply.raw_output_contents
    assert list(reply.outputs[0].contents.int64_contents) == [15, -18]
    assert list(reply.outputs[0].shape) == [1, 2]
    assert reply.id == "typed"


def test_client_deadline_reaches_the_data_plane(
    client: triton.InferenceServerClient, data: Served
) -> None:
    _infer(client, "affine", "x", np.zeros((1, 3), np.float32), "FP32", client_timeout=30)
    request, received_at = data.dataplane.received[-1]
    assert request.deadline is not None
    # The grpc-timeout header carries a rounded value, so allow a little over the 30 s asked.
    assert 0 < request.deadline - received_at <= 31


def test_the_timeout_parameter_is_a_deadline_as_over_rest(
    client: triton.InferenceServerClient, data: Served
) -> None:
    """``parameters.timeout_ms`` is the REST deadline parameter; gRPC took no notice of it,
    not even of a value REST refuses."""
    x = np.zeros((1, 3), np.float32)
    _infer(client, "affine", "x", x, "FP32", parameters={"timeout_ms": 2000})
    request, received_at = data.dataplane.received[-1]
    assert request.deadline is not None and 0 < request.deadline - received_at <= 2.0
    _infer(client, "affine", "x", x, "FP32", parameters={"timeout_ms": 2000}, client_timeout=1)
    request, received_at = data.dataplane.received[-1]
    assert request.deadline is not None and request.deadline - received_at <= 1.1  # the sooner
    for bad in (0, -5, "abc", 1.5, True):
        with pytest.raises(InferenceServerException) as caught:
            _infer(client, "affine", "x", x, "FP32", parameters={"timeout_ms": bad})
        assert caught.value.status() == "StatusCode.INVALID_ARGUMENT", bad
        assert "parameters.timeout_ms must be a whole number of milliseconds" in (
            caught.value.message() or ""
        )


def test_tritons_timeout_parameter_is_a_deadline_in_microseconds(
    client: triton.InferenceServerClient, data: Served
) -> None:
    """tritonclient's ``infer(timeout=…)`` sends Triton's ``parameters.timeout`` (microseconds);
    it was passed through unread, so the request ran on under the server's 30 s default."""
    x = np.zeros((1, 3), np.float32)
    _infer(client, "affine", "x", x, "FP32", timeout=1_500_000)
    request, received_at = data.dataplane.received[-1]
    assert request.deadline is not None and 1.4 < request.deadline - received_at <= 1.5
    _infer(client, "affine", "x", x, "FP32", timeout=1_500_000, parameters={"timeout_ms": 500})
    request, received_at = data.dataplane.received[-1]
    assert request.deadline is not None and request.deadline - received_at <= 0.5  # the sooner
    with pytest.raises(InferenceServerException) as caught:
        _infer(client, "affine", "x", x, "FP32", timeout=-1)
    assert caught.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "parameters.timeout (Triton's, in microseconds) must be a whole number" in (
        caught.value.message() or ""
    )


def test_tritons_timeout_of_zero_is_no_timeout_and_keeps_the_client_deadline(
    client: triton.InferenceServerClient, data: Served
) -> None:
    """Triton reads ``timeout`` 0 as "no timeout"; it was refused, and had it been let through
    it would have dropped the call's own deadline."""
    x = np.zeros((1, 3), np.float32)
    _infer(client, "affine", "x", x, "FP32", timeout=0)
    request, _ = data.dataplane.received[-1]
    assert request.deadline is None
    _infer(client, "affine", "x", x, "FP32", timeout=0, client_timeout=20)
    request, received_at = data.dataplane.received[-1]
    assert request.deadline is not None and 0 < request.deadline - received_at <= 21


# --- errors ------------------------------------------------------------------------------------


def test_unknown_model_is_not_found(client: triton.InferenceServerClient) -> None:
    with pytest.raises(InferenceServerException) as caught:
        _infer(client, "no-such-model", "x", np.zeros((1, 3), np.float32), "FP32")
    assert caught.value.status() == "StatusCode.NOT_FOUND"
    assert "no-such-model" in caught.value.message()


def test_wrong_datatype_is_invalid_argument(client: triton.InferenceServerClient) -> None:
    with pytest.raises(InferenceServerException) as caught:
        _infer(client, "affine", "x", np.zeros((1, 3), np.int64), "INT64")
    assert caught.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "'x'" in caught.value.message() and "FP32" in caught.value.message()


@pytest.mark.parametrize(
    ("shape", "raw", "fragment"),
    [
        ([2, 3], b"\0" * 20, "needs 24 bytes"),  # raw size disagrees with the shape
        ([2**31, 2**31, 2**31], b"\0" * 4, "needs"),  # huge declared shape, tiny data
        ([1, 2, 3, 4, 5, 6, 7, 8, 9], b"", "rank 9"),
        ([-1, 3], b"", "negative dimension"),
    ],
)
def test_malformed_tensors_are_invalid_argument(
    data: Served, shape: list[int], raw: bytes, fragment: str
) -> None:
    request = service_pb2.ModelInferRequest(model_name="affine", raw_input_contents=[raw])
    request.inputs.add(name="x", datatype="FP32", shape=shape)
    error = _rpc_error(lambda: _raw_infer(data.url, request))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'x'" in error.details() and fragment in error.details()


def test_message_beyond_the_body_limit_is_resource_exhausted(
    client: triton.InferenceServerClient,
) -> None:
    big = np.zeros((LIMITS.max_body_bytes // 12 + 1, 3), dtype=np.float32)
    with pytest.raises(InferenceServerException) as caught:
        _infer(client, "affine", "x", big, "FP32")
    assert caught.value.status() == "StatusCode.RESOURCE_EXHAUSTED"


def test_unexpected_failures_are_internal_without_details(
    client: triton.InferenceServerClient, data: Served
) -> None:
    data.dataplane.fail_with = RuntimeError("boom at /srv/secret/model.onnx")
    with pytest.raises(InferenceServerException) as caught:
        _infer(client, "affine", "x", np.zeros((1, 3), np.float32), "FP32")
    assert caught.value.status() == "StatusCode.INTERNAL"
    assert caught.value.message() == "internal error"


def test_every_error_code_has_a_grpc_status() -> None:
    assert set(GRPC_STATUS) == set(Code)


def test_unavailable_carries_a_retry_hint(data: Served) -> None:
    data.dataplane.fail_with = Unavailable("queue of model 'affine' is full", retry_after=2.5)
    request = service_pb2.ModelInferRequest(model_name="affine")
    request.inputs.add(name="x", datatype="FP32", shape=[1, 3]).contents.fp32_contents.extend(
        [1, 2, 3]
    )
    error = _rpc_error(lambda: _raw_infer(data.url, request))
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert error.details() == "queue of model 'affine' is full"
    assert dict(error.trailing_metadata())["retry-after"] == "3"


def test_data_listener_refuses_repository_rpcs(
    client: triton.InferenceServerClient, data: Served
) -> None:
    for call in (
        client.get_model_repository_index,
        lambda: client.load_model("affine"),
        lambda: client.unload_model("affine"),
    ):
        with pytest.raises(InferenceServerException) as caught:
            call()
        assert caught.value.status() == "StatusCode.PERMISSION_DENIED"
        assert "control-plane" in caught.value.message()
    assert data.dataplane.loads == [] and data.dataplane.unloads == []


def test_a_client_that_gives_up_cancels_its_inference(
    client: triton.InferenceServerClient, data: Served
) -> None:
    data.dataplane.hold_s = 60.0
    before = data.dataplane.cancelled
    with pytest.raises(InferenceServerException) as caught:
        _infer(client, "affine", "x", np.zeros((1, 3), np.float32), "FP32", client_timeout=0.3)
    assert caught.value.status() == "StatusCode.DEADLINE_EXCEEDED"
    for _ in range(100):  # the server notices the expired call on its own loop
        if data.dataplane.cancelled > before:
            break
        time.sleep(0.05)
    assert data.dataplane.cancelled == before + 1
