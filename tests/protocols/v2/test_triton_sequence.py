"""Triton's sequence extension (tritonclient's ``infer(sequence_id=…, sequence_start=…,
sequence_end=…)``, sent as request parameters) is refused over REST and gRPC alike. It was
accepted and ignored: a client driving a stateful model got each request answered on its own,
with no word that the state it relies on is not kept (Triton refuses a correlation ID for a model
without a sequence batcher too)."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from tritonclient.utils import InferenceServerException

from protocols.conftest import Servers

WORDS = "Triton's sequence extension (parameters.sequence_id, sequence_start, sequence_end)"


def _inputs(module: ModuleType) -> list[object]:
    tensor = module.InferInput("x", [1, 3], "FP32")
    tensor.set_data_from_numpy(np.ones((1, 3), np.float32))
    return [tensor]


@pytest.mark.parametrize(
    "sequence",
    [
        {"sequence_id": 7, "sequence_start": True},
        {"sequence_id": 7},
        {"sequence_id": "session-1", "sequence_end": True},
    ],
)
def test_a_sequence_request_is_refused_over_rest_and_grpc(
    rest_and_grpc: Servers, sequence: dict[str, object]
) -> None:
    rest = triton_http.InferenceServerClient(rest_and_grpc.rest.url.removeprefix("http://"))
    with pytest.raises(InferenceServerException) as over_rest:
        rest.infer("sum", _inputs(triton_http), **sequence)
    grpc = triton_grpc.InferenceServerClient(f"127.0.0.1:{rest_and_grpc.grpc.port}")
    with pytest.raises(InferenceServerException) as over_grpc:
        grpc.infer("sum", _inputs(triton_grpc), **sequence)
    assert over_rest.value.status() == "501"
    assert over_grpc.value.status() == "StatusCode.UNIMPLEMENTED"
    assert WORDS in str(over_rest.value.message())
    assert over_rest.value.message() == over_grpc.value.message()


def test_no_sequence_still_infers(rest_and_grpc: Servers) -> None:
    """tritonclient sends no sequence parameter unless asked (sequence_id 0 is none)."""
    rest = triton_http.InferenceServerClient(rest_and_grpc.rest.url.removeprefix("http://"))
    result = rest.infer("sum", _inputs(triton_http), sequence_id=0)
    np.testing.assert_array_equal(result.as_numpy("y"), [[3.0]])
    grpc = triton_grpc.InferenceServerClient(f"127.0.0.1:{rest_and_grpc.grpc.port}")
    result = grpc.infer("sum", _inputs(triton_grpc), sequence_id=0)
    np.testing.assert_array_equal(result.as_numpy("y"), [[3.0]])
