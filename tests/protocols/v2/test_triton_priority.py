"""Triton's schedule-policy ``priority`` (tritonclient's ``infer(priority=…)``, a request
parameter) is refused over REST and gRPC alike. It was accepted and ignored: a client that marks
its urgent requests got them queued behind every other in arrival order, with no word that the
priority it set had no effect. A priority of 0 is Triton's default level: none."""

from __future__ import annotations

from types import ModuleType

import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from tritonclient.utils import InferenceServerException

from protocols.conftest import Servers

WORDS = "Triton's schedule policy extension (parameters.priority) is not supported"


def _inputs(module: ModuleType) -> list[object]:
    tensor = module.InferInput("x", [1, 3], "FP32")
    tensor.set_data_from_numpy(np.ones((1, 3), np.float32))
    return [tensor]


@pytest.mark.parametrize("priority", [1, 3, 2**40])
def test_a_priority_is_refused_over_rest_and_grpc(rest_and_grpc: Servers, priority: int) -> None:
    rest = triton_http.InferenceServerClient(rest_and_grpc.rest.url.removeprefix("http://"))
    with pytest.raises(InferenceServerException) as over_rest:
        rest.infer("sum", _inputs(triton_http), priority=priority)
    grpc = triton_grpc.InferenceServerClient(f"127.0.0.1:{rest_and_grpc.grpc.port}")
    with pytest.raises(InferenceServerException) as over_grpc:
        grpc.infer("sum", _inputs(triton_grpc), priority=priority)
    assert over_rest.value.status() == "501"
    assert over_grpc.value.status() == "StatusCode.UNIMPLEMENTED"
    assert WORDS in str(over_rest.value.message())
    assert over_rest.value.message() == over_grpc.value.message()


@pytest.mark.parametrize("priority", [-1, "high", True, 1.5])
def test_a_priority_that_is_no_level_is_refused_too(
    rest_and_grpc: Servers, priority: object
) -> None:
    body = {
        "parameters": {"priority": priority},
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 1, 1]}],
    }
    answer = httpx.post(f"{rest_and_grpc.rest.url}/v2/models/sum/infer", json=body, timeout=10)
    assert answer.status_code == 501
    assert WORDS in answer.json()["error"]


@pytest.mark.parametrize("priority", [0, None])
def test_the_default_priority_still_infers(rest_and_grpc: Servers, priority: int | None) -> None:
    """tritonclient sends no priority unless asked (0); a JSON client may send 0 or null."""
    body = {
        "parameters": {"priority": priority},
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 1, 1]}],
    }
    answer = httpx.post(f"{rest_and_grpc.rest.url}/v2/models/sum/infer", json=body, timeout=10)
    assert answer.status_code == 200, answer.text
    grpc = triton_grpc.InferenceServerClient(f"127.0.0.1:{rest_and_grpc.grpc.port}")
    result = grpc.infer("sum", _inputs(triton_grpc), priority=0)
    np.testing.assert_array_equal(result.as_numpy("y"), [[3.0]])
