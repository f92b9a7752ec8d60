"""A request whose body is refused before it reaches the model (wrong shape, datatype or input
name, malformed JSON, too few elements) still counts in ``inferd_requests_total`` under its
version's ``client_error``, as docs/metrics.md says, over REST, KServe v1 and gRPC alike."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from inferd.config import LimitSettings
from inferd.errors import InferdError
from inferd.protocols._generated import inference_pb2 as pb
from inferd.protocols.grpc.servicer import InferenceServicer
from inferd.protocols.http.messages import Request
from inferd.protocols.v2.handlers import V2Handlers
from inferd.protocols.v2.kserve_v1 import V1Handlers
from serving.conftest import FEATURES, Harness, harness

__all__ = ["harness"]


def _tensor(shape: list[int], datatype: str = "FP32", name: str = "x") -> dict[str, object]:
    count = 1
    for n in shape:
        count *= n
    return {"name": name, "shape": shape, "datatype": datatype, "data": [1] * count}


BAD_BODIES = [
    b"{not json",
    orjson.dumps({"inputs": [_tensor([1, FEATURES + 1])]}),
    orjson.dumps({"inputs": [_tensor([1, FEATURES], "FP64")]}),
    orjson.dumps({"inputs": [_tensor([1, FEATURES], name="nope")]}),
    orjson.dumps({"inputs": [{**_tensor([1, FEATURES]), "data": [1.0]}]}),
    orjson.dumps({"inputs": []}),
]


def _client_errors(metrics: object) -> float:
    labels = {"model": "m", "version": "v1", "outcome": "client_error"}
    value = metrics.registry.get_sample_value("inferd_requests_total", labels)  # type: ignore[attr-defined]
    return value or 0.0


class _Context:
    def time_remaining(self) -> None:
        return None


def test_bodies_refused_before_the_model_count_as_client_errors(harness: Harness) -> None:
    harness.push("m:v1")

    async def main() -> tuple[float, float, float, float]:
        plane, manager, metrics = harness.plane()
        await manager.serve(["m:v1"])
        limits = LimitSettings()
        rest = V2Handlers(plane, limits, lambda: b"")
        for body in BAD_BODIES:
            request = Request("POST", "/v2/models/m/infer", "", {}, body, {"model": "m"})
            with pytest.raises(InferdError):
                await rest.infer(request)
        after_rest = _client_errors(metrics)
        v1 = V1Handlers(plane, limits)
        request = Request("POST", "/v1/models/m:predict", "", {}, b'{"instances": "ragged"',
                          {"model": "m"})  # fmt: skip
        with pytest.raises(InferdError):
            await v1.predict(request)
        after_v1 = _client_errors(metrics)
        grpc = InferenceServicer(plane, limits)
        wrong = pb.ModelInferRequest(model_name="m")
        wrong.inputs.add(name="x", datatype="FP32", shape=[1, FEATURES + 1])
        with pytest.raises(InferdError):
            await grpc.model_infer(wrong, _Context())  # type: ignore[arg-type]
        after_grpc = _client_errors(metrics)
        unknown = metrics.registry.get_sample_value(
            "inferd_requests_total", {"model": "unknown", "version": "", "outcome": "client_error"}
        )
        await plane.close()
        return after_rest, after_v1, after_grpc, unknown or 0.0

    after_rest, after_v1, after_grpc, unknown = asyncio.run(main())
    assert after_rest == len(BAD_BODIES)
    assert after_v1 == after_rest + 1
    assert after_grpc == after_v1 + 1
    assert unknown == 0  # counted once, under the version, not also as an unknown model
