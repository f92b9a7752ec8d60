"""The gRPC control listener: repository RPCs only, each behind the bearer token."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
import tritonclient.grpc as triton
from tritonclient.grpc import service_pb2
from tritonclient.utils import InferenceServerException

from inferd.config import LimitSettings
from inferd.errors import ModelNotFound
from inferd.protocols.grpc import GrpcHandle, serve_grpc
from inferd.serving.stats import VersionState
from inferd.serving.types import RepositoryEntry

TOKEN = "grpc-control-token-42"
AUTH = {"authorization": f"Bearer {TOKEN}"}


class RepositoryDataPlane:
    """Records the repository calls it receives; the control listener calls nothing else."""

    def __init__(self) -> None:
        self.models = {"iris": "1", "churn": "3"}
        self.loads: list[tuple[str, str | None]] = []
        self.unloads: list[str] = []

    def repository_index(self, ready_only: bool = False) -> list[RepositoryEntry]:
        return [
            RepositoryEntry(name, version, VersionState.READY)
            for name, version in self.models.items()
        ]

    async def load(self, name: str, reference: str | None = None) -> None:
        self.loads.append((name, reference))

    async def unload(self, name: str) -> None:
        if name not in self.models:
            raise ModelNotFound(name)
        self.unloads.append(name)


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


@pytest.fixture
def dataplane() -> RepositoryDataPlane:
    return RepositoryDataPlane()


@pytest.fixture
def control(
    loop: asyncio.AbstractEventLoop, dataplane: RepositoryDataPlane
) -> Iterator[GrpcHandle]:
    start = serve_grpc(dataplane, "127.0.0.1", 0, LimitSettings(), control=True, token=TOKEN)
    handle = asyncio.run_coroutine_threadsafe(start, loop).result(10)
    yield handle
    asyncio.run_coroutine_threadsafe(handle.stop(1.0), loop).result(10)


@pytest.fixture
def client(control: GrpcHandle) -> Iterator[triton.InferenceServerClient]:
    with triton.InferenceServerClient(f"127.0.0.1:{control.port}") as client:
        yield client


def _status(call: Any) -> InferenceServerException:
    with pytest.raises(InferenceServerException) as caught:
        call()
    return caught.value


@pytest.mark.parametrize(
    "headers", [None, {"authorization": "Bearer wrong"}, {"authorization": TOKEN}]
)
def test_every_repository_rpc_requires_the_token(
    client: triton.InferenceServerClient, dataplane: RepositoryDataPlane, headers: Any
) -> None:
    for call in (
        lambda: client.get_model_repository_index(headers=headers),
        lambda: client.load_model("iris", headers=headers),
        lambda: client.unload_model("iris", headers=headers),
    ):
        error = _status(call)
        assert error.status() == "StatusCode.UNAUTHENTICATED"
        assert TOKEN not in error.message()
    assert dataplane.loads == [] and dataplane.unloads == []


def test_index_lists_the_models(client: triton.InferenceServerClient) -> None:
    index = client.get_model_repository_index(headers=AUTH, as_json=True)["models"]
    assert index == [
        {"name": "iris", "version": "1", "state": "READY"},
        {"name": "churn", "version": "3", "state": "READY"},
    ]


def _raw(control: GrpcHandle, method: str, request: Any) -> None:
    """Call ``method`` with Triton's own message (tritonclient cannot send every parameter)."""
    with grpc.insecure_channel(f"127.0.0.1:{control.port}") as channel:
        call = channel.unary_unary(
            f"/inference.GRPCInferenceService/{method}",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=lambda data: data,
        )
        call(request, metadata=tuple(AUTH.items()), timeout=10)


def test_load_and_unload(
    client: triton.InferenceServerClient, dataplane: RepositoryDataPlane, control: GrpcHandle
) -> None:
    client.load_model("iris", headers=AUTH)
    client.unload_model("churn", headers=AUTH)
    # tritonclient cannot send a string parameter to load; Triton's own messages can.
    request = service_pb2.RepositoryModelLoadRequest(model_name="iris")
    request.parameters["reference"].string_param = "iris:v2"
    _raw(control, "RepositoryModelLoad", request)
    assert dataplane.loads == [("iris", None), ("iris", "iris:v2")]
    assert dataplane.unloads == ["churn"]


def test_refusals_name_the_problem(
    client: triton.InferenceServerClient, control: GrpcHandle
) -> None:
    error = _status(lambda: client.load_model("iris", headers=AUTH, config='{"backend": "x"}'))
    assert error.status() == "StatusCode.UNIMPLEMENTED"
    assert error.message().endswith(
        "load parameter 'config' is not supported; inferd loads models from its store: "
        "pass the store reference as the string parameter 'reference'"
    )
    # A reference that is not a string is a bad argument, as over REST.
    request = service_pb2.RepositoryModelLoadRequest(model_name="iris")
    request.parameters["reference"].int64_param = 2
    with pytest.raises(grpc.RpcError) as caught:
        _raw(control, "RepositoryModelLoad", request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "load parameter 'reference' must be a string" in str(caught.value.details())
    error = _status(lambda: client.load_model("iris", headers=AUTH, files={"file:1/m": b"x"}))
    assert error.status() == "StatusCode.UNIMPLEMENTED"
    unload = service_pb2.RepositoryModelUnloadRequest(model_name="churn")
    unload.parameters["unload_dependents"].string_param = "x"  # as over REST: a boolean only
    with pytest.raises(grpc.RpcError) as caught:
        _raw(control, "RepositoryModelUnload", unload)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == (
        "unload parameter 'unload_dependents' must be a boolean, got 'x'"
    )
    error = _status(lambda: client.unload_model("nope", headers=AUTH))
    assert error.status() == "StatusCode.NOT_FOUND"
    assert "'nope'" in error.message()


def test_no_data_plane_rpcs_on_the_control_listener(client: triton.InferenceServerClient) -> None:
    for call in (client.is_server_live, lambda: client.get_model_metadata("iris")):
        assert _status(call).status() == "StatusCode.UNIMPLEMENTED"


def test_two_authorization_entries_are_refused(control: GrpcHandle) -> None:
    """gRPC took the first and REST the last: a second token must not ride along. Refused as a
    malformed call (REST's 400, the data plane's API-key check), whatever the tokens are."""
    with grpc.insecure_channel(f"127.0.0.1:{control.port}") as channel:
        call = channel.unary_unary(
            "/inference.GRPCInferenceService/RepositoryIndex",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=lambda data: data,
        )
        twice = (("authorization", f"Bearer {TOKEN}"), ("authorization", "Bearer wrong"))
        with pytest.raises(grpc.RpcError) as caught:
            call(service_pb2.RepositoryIndexRequest(), metadata=twice, timeout=10)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == "more than one 'authorization' metadata entry; send it once"


def test_a_control_message_is_bounded_far_below_a_tensor_body(control: GrpcHandle) -> None:
    """The token is checked once a message is read, and repository messages carry a name and a
    few parameters: a caller without it could make the listener read 64 MiB messages (the data
    plane's limit). gRPC itself refuses one over 1 MiB, before anything reads it."""
    with grpc.insecure_channel(f"127.0.0.1:{control.port}") as channel:
        call = channel.unary_unary(
            "/inference.GRPCInferenceService/RepositoryModelLoad",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=lambda data: data,
        )
        big = service_pb2.RepositoryModelLoadRequest(model_name="m" * (2 * 1024 * 1024))
        with pytest.raises(grpc.RpcError) as caught:
            call(big, timeout=10)
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
