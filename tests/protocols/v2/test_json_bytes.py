"""BYTES outputs in JSON: a JSON string holds text, so bytes that are not UTF-8 are never replaced
by U+FFFD on the way out (the client would get other bytes than the model gave, silently)."""

from __future__ import annotations

import asyncio
import struct

import httpx
import numpy as np
import orjson
import pytest

from inferd.card import TensorSpec
from inferd.protocols.http import Request
from inferd.protocols.v2.kserve_v1 import V1Handlers
from inferd.serving.types import InferRequest, InferResponse, ModelInfo, Tensor
from protocols.conftest import TEST_LIMITS

NOT_UTF8 = b"\xff\xfe\x00"


@pytest.fixture
def client(data_server):
    with httpx.Client(base_url=data_server.url, timeout=10) as c:
        yield c


def _bytes_request(values: list[bytes], outputs: list[dict[str, object]]) -> dict[str, object]:
    raw = b"".join(struct.pack("<I", len(v)) + v for v in values)
    head = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "datatype": "BYTES",
                    "shape": [len(values)],
                    "parameters": {"binary_data_size": len(raw)},
                }
            ],
            "outputs": outputs,
        }
    )
    return {
        "content": head + raw,
        "headers": {"Inference-Header-Content-Length": str(len(head))},
    }


def test_a_bytes_output_that_is_not_utf8_is_refused_in_json_naming_the_remedy(client):
    answer = client.post(
        "/v2/models/echo/infer", **_bytes_request([b"ok", NOT_UTF8], [{"name": "out_x"}])
    )
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "output 'out_x': element 1 is not UTF-8 text, which a JSON string cannot "
        "carry; ask for the output as binary data (parameters.binary_data: true)"
    }


def test_the_same_bytes_asked_for_as_binary_arrive_intact(client):
    asked = [{"name": "out_x", "parameters": {"binary_data": True}}]
    answer = client.post("/v2/models/echo/infer", **_bytes_request([b"ok", NOT_UTF8], asked))
    assert answer.status_code == 200
    n = int(answer.headers["inference-header-content-length"])
    assert answer.content[n:] == struct.pack("<I", 2) + b"ok" + struct.pack("<I", 3) + NOT_UTF8


def test_utf8_bytes_still_travel_as_json_strings(client):
    answer = client.post(
        "/v2/models/echo/infer", **_bytes_request(["é".encode(), b""], [{"name": "out_x"}])
    )
    assert answer.status_code == 200
    assert answer.json()["outputs"][0]["data"] == ["é", ""]


class _BytesModel:
    """A data plane whose one model answers a BYTES output of shape [N, 2]."""

    def __init__(self, values: list[list[bytes]]) -> None:
        self.values = values

    def model_metadata(self, name: str, version: str | None = None) -> ModelInfo:
        spec = TensorSpec(name="x", datatype="FP32", shape=[-1, 1])
        out = TensorSpec(name="y", datatype="BYTES", shape=[-1, 2])
        return ModelInfo(name, ("1",), "fake", [spec], [out])

    async def infer(self, request: InferRequest) -> InferResponse:
        data = np.array(self.values, dtype=object)
        return InferResponse(request.model, "1", [Tensor("y", "BYTES", data)])


def _predict(values: list[list[bytes]]) -> object:
    handlers = V1Handlers(_BytesModel(values), TEST_LIMITS)  # type: ignore[arg-type]
    body = orjson.dumps({"instances": [[1.0] for _ in values]})
    request = Request("POST", "/v1/models/m:predict", "", {}, body, params={"model": "m"})
    return orjson.loads(asyncio.run(handlers.predict(request)).body)


def test_kserve_v1_bytes_predictions_keep_one_row_per_instance():
    assert _predict([[b"a", b"b"], [b"c", b""]]) == {"predictions": [["a", "b"], ["c", ""]]}


def test_kserve_v1_bytes_that_are_not_utf8_travel_as_b64_objects():
    """KServe v1 (TensorFlow Serving's REST format) carries binary strings as {"b64": ...}."""
    assert _predict([[b"a", NOT_UTF8]]) == {"predictions": [["a", {"b64": "//4A"}]]}
