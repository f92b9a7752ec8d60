"""A client nobody here wrote: tritonclient HTTP (JSON and binary) against ``inferd serve``,
with answers compared to in-process onnxruntime on the same model files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.http as triton

pytestmark = pytest.mark.slow

FRAUD_V1 = (
    Path(__file__).resolve().parents[2] / "examples" / "quickstart" / "fraud-v1" / "model.onnx"
)


@pytest.fixture(scope="module")
def client(served):
    c = triton.InferenceServerClient(f"127.0.0.1:{served.port}")
    yield c
    c.close()


def test_health_and_metadata(client):
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("fraud")
    assert client.is_model_ready("fraud", "v1")
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    meta = client.get_model_metadata("fraud")
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 8]}]
    assert {o["name"] for o in meta["outputs"]} == {"label", "probabilities"}


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_fraud_answers_equal_onnxruntime(client, binary):
    rows = np.random.default_rng(1).standard_normal((5, 8)).astype(np.float32)
    x = triton.InferInput("input", [5, 8], "FP32")
    x.set_data_from_numpy(rows, binary_data=binary)
    outputs = [
        triton.InferRequestedOutput(n, binary_data=binary) for n in ("label", "probabilities")
    ]
    result = client.infer("fraud", [x], outputs=outputs, request_id="r1")
    session = ort.InferenceSession(str(FRAUD_V1), providers=["CPUExecutionProvider"])
    label, probabilities = session.run(["label", "probabilities"], {"input": rows})
    np.testing.assert_array_equal(result.as_numpy("label"), label)
    np.testing.assert_allclose(result.as_numpy("probabilities"), probabilities, rtol=1e-6)
    assert result.get_response()["id"] == "r1"
    assert result.get_response()["model_version"] == "v1"


CASES = {
    "id-fp32": ("FP32", np.arange(6, dtype=np.float32).reshape(2, 3) / 7),
    "id-int64": ("INT64", np.array([[-(2**40), 0, 2**40]], dtype=np.int64)),
    "id-fp16": ("FP16", np.array([[0.5, -1.5], [65504, 1e-3]], dtype=np.float16)),
    # ONNX string tensors hold text: binary BYTES must be UTF-8 (NUL included) to round-trip.
    "id-bytes": ("BYTES", np.array([[b"fraud", b""], [b"\x00raw", "é".encode()]], dtype=object)),
}


# FP16 has no JSON form in the protocol (binary only); JSON BYTES must be valid UTF-8.
PAIRS = [(m, b) for m in CASES for b in (False, True) if b or m != "id-fp16"]


@pytest.mark.parametrize(("model", "binary"), PAIRS, ids=[f"{m}-{b}" for m, b in PAIRS])
def test_datatypes_round_trip(client, model, binary):
    datatype, data = CASES[model]
    if datatype == "BYTES" and not binary:
        data = np.array([[b"fraud", b""], [b"plain", "é".encode()]], dtype=object)
    x = triton.InferInput("x", list(data.shape), datatype)
    x.set_data_from_numpy(data, binary_data=binary)
    result = client.infer(
        model, [x], outputs=[triton.InferRequestedOutput("y", binary_data=binary)]
    )
    got = result.as_numpy("y")
    if datatype == "BYTES":
        assert [v.encode() if isinstance(v, str) else bytes(v) for v in got.reshape(-1)] == list(
            data.reshape(-1)
        )
    else:
        assert got.dtype == data.dtype
        np.testing.assert_array_equal(got, data)


def test_errors_reach_the_client_with_their_message(client):
    x = triton.InferInput("input", [1, 8], "FP32")
    x.set_data_from_numpy(np.zeros((1, 8), dtype=np.float32))
    with pytest.raises(triton.InferenceServerException, match="nope"):
        client.infer("nope", [x])
    wrong = triton.InferInput("input", [1, 8], "INT64")
    wrong.set_data_from_numpy(np.zeros((1, 8), dtype=np.int64))
    with pytest.raises(triton.InferenceServerException, match="input"):
        client.infer("fraud", [wrong])
