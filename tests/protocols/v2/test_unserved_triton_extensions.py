"""Triton's shared-memory extension's own API (tritonclient's ``register_system_shared_memory``,
``get_cuda_shared_memory_status``…) is refused saying it is not supported, over REST (501) and
gRPC (UNIMPLEMENTED) with the same words. It answered a bare "no route for …" 404 and gRPC's
"Method not found!", which read like a wrong address or client version rather than a feature
the server does not have."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from tritonclient.utils import InferenceServerException

from protocols.conftest import Servers

WORDS = "Triton's shared-memory extension (system and CUDA shared memory) is not supported"

Call = Callable[[object], object]

CALLS: dict[str, Call] = {
    "system status": lambda c: c.get_system_shared_memory_status(),
    "system region status": lambda c: c.get_system_shared_memory_status(region_name="r"),
    "system register": lambda c: c.register_system_shared_memory("r", "/key", 64),
    "system unregister": lambda c: c.unregister_system_shared_memory(),
    "system region unregister": lambda c: c.unregister_system_shared_memory("r"),
    "cuda status": lambda c: c.get_cuda_shared_memory_status(),
    "cuda register": lambda c: c.register_cuda_shared_memory("r", b"\0" * 64, 0, 64),
    "cuda region unregister": lambda c: c.unregister_cuda_shared_memory("r"),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_the_shared_memory_api_is_refused_saying_so(rest_and_grpc: Servers, call: Call) -> None:
    rest = triton_http.InferenceServerClient(rest_and_grpc.rest.url.removeprefix("http://"))
    with pytest.raises(InferenceServerException) as over_rest:
        call(rest)
    grpc = triton_grpc.InferenceServerClient(f"127.0.0.1:{rest_and_grpc.grpc.port}")
    with pytest.raises(InferenceServerException) as over_grpc:
        call(grpc)
    assert over_rest.value.status() == "501"
    assert over_grpc.value.status() == "StatusCode.UNIMPLEMENTED"
    assert WORDS in str(over_rest.value.message())
    assert over_rest.value.message() == over_grpc.value.message()


def test_a_wrong_method_on_a_shared_memory_path_is_still_405(rest_and_grpc: Servers) -> None:
    answer = httpx.delete(f"{rest_and_grpc.rest.url}/v2/systemsharedmemory/status", timeout=10)
    assert answer.status_code == 405


SETTINGS: dict[str, Call] = {
    "trace settings": lambda c: c.get_trace_settings(),
    "model trace settings": lambda c: c.get_trace_settings(model_name="sum"),
    "update trace settings": lambda c: c.update_trace_settings(settings={"trace_rate": "1"}),
    "log settings": lambda c: c.get_log_settings(),
    "update log settings": lambda c: c.update_log_settings(settings={"log_info": True}),
}


@pytest.mark.parametrize("call", SETTINGS.values(), ids=SETTINGS.keys())
def test_trace_and_log_settings_are_refused_naming_the_extension(
    rest_and_grpc: Servers, call: Call
) -> None:
    """They answered "no route", "model 'sum/trace/setting' not found" or "Method not found!"."""
    rest = triton_http.InferenceServerClient(rest_and_grpc.rest.url.removeprefix("http://"))
    with pytest.raises(InferenceServerException) as over_rest:
        call(rest)
    grpc = triton_grpc.InferenceServerClient(f"127.0.0.1:{rest_and_grpc.grpc.port}")
    with pytest.raises(InferenceServerException) as over_grpc:
        call(grpc)
    assert over_rest.value.status() == "501"
    assert over_grpc.value.status() == "StatusCode.UNIMPLEMENTED"
    assert "extension" in str(over_rest.value.message())
    assert over_rest.value.message() == over_grpc.value.message()
