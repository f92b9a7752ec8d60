"""Every OIP v2 REST endpoint and datatype, JSON and binary, over a real loopback socket."""

from __future__ import annotations

import struct

import httpx
import numpy as np
import orjson
import pytest

from inferd.datatypes import NUMPY_DTYPES

NUMERIC = [d for d in NUMPY_DTYPES if d not in ("BYTES", "FP16")]


@pytest.fixture
def client(data_server):
    with httpx.Client(base_url=data_server.url, timeout=10) as c:
        yield c


def _binary_request(
    tensors: list[tuple[str, str, np.ndarray]],
    params: dict | None = None,
    outputs: list | None = None,
) -> tuple[bytes, dict[str, str]]:
    inputs, blobs = [], []
    for name, datatype, array in tensors:
        if datatype == "BYTES":
            raw = b"".join(struct.pack("<I", len(v)) + v for v in array.reshape(-1).tolist())
        else:
            raw = np.ascontiguousarray(array, dtype=NUMPY_DTYPES[datatype]).tobytes()
        inputs.append(
            {
                "name": name,
                "datatype": datatype,
                "shape": list(array.shape),
                "parameters": {"binary_data_size": len(raw)},
            }
        )
        blobs.append(raw)
    doc: dict = {"inputs": inputs}
    if params:
        doc["parameters"] = params
    if outputs is not None:
        doc["outputs"] = outputs
    head = orjson.dumps(doc)
    return head + b"".join(blobs), {
        "Inference-Header-Content-Length": str(len(head)),
        "Content-Type": "application/octet-stream",
    }


def _split_binary(response: httpx.Response) -> tuple[dict, bytes]:
    n = int(response.headers["inference-header-content-length"])
    return orjson.loads(response.content[:n]), response.content[n:]


def test_health_endpoints(client, data_server):
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    ready = client.get("/v2/models/echo/ready")
    assert (ready.status_code, ready.json()) == (200, {"name": "echo", "ready": True})
    assert client.get("/v2/models/echo/versions/1/ready").status_code == 200
    data_server.dataplane.is_ready = False
    assert client.get("/v2/health/ready").status_code == 503
    assert client.get("/v2/models/echo/ready").json() == {"name": "echo", "ready": False}


@pytest.mark.parametrize(
    "path", ["/v2/models/echo/ready", "/v2/models/echo/versions/1/ready", "/v1/models/echo"]
)
def test_a_model_with_no_version_ready_answers_not_ready(client, data_server, path):
    """In the readiness shape the protocol and the OpenAPI document give 503, not an error."""
    data_server.dataplane.without_version.add("echo")
    answer = client.get(path)
    assert (answer.status_code, answer.json()) == (503, {"name": "echo", "ready": False})
    assert answer.headers["retry-after"] == "5"
    assert client.get(path.replace("echo", "nope")).status_code == 404


def test_server_and_model_metadata(client):
    meta = client.get("/v2").json()
    assert meta["name"] == "inferd"
    assert "binary_tensor_data" in meta["extensions"]
    model = client.get("/v2/models/sum").json()
    assert model["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}]
    assert client.get("/v2/models/sum/versions/1").json()["name"] == "sum"


def test_json_inference_echoes_id_and_parameters(client):
    body = {
        "id": "req-7",
        "parameters": {"tag": "a"},
        "inputs": [
            {"name": "x", "shape": [2, 3], "datatype": "FP32", "data": [[1, 2, 3], [4, 5, 6]]}
        ],
    }
    for path in ("/v2/models/sum/infer", "/v2/models/sum/versions/1/infer"):
        answer = client.post(path, json=body)
        assert answer.status_code == 200, answer.text
        doc = answer.json()
        assert doc["id"] == "req-7"
        assert doc["model_name"] == "sum"
        assert doc["model_version"] == "1"
        assert doc["outputs"] == [
            {"name": "y", "datatype": "FP32", "shape": [2, 1], "data": [6.0, 15.0]}
        ]


@pytest.mark.parametrize("datatype", NUMERIC)
def test_every_numeric_datatype_round_trips_in_json(client, datatype):
    values = [0, 1, 1, 0] if datatype == "BOOL" else [1, 2, 3, 4]
    data = [bool(v) for v in values] if datatype == "BOOL" else values
    body = {"inputs": [{"name": "x", "shape": [2, 2], "datatype": datatype, "data": data}]}
    doc = client.post("/v2/models/echo/infer", json=body).json()
    out = doc["outputs"][0]
    assert (out["name"], out["datatype"], out["shape"]) == ("out_x", datatype, [2, 2])
    assert out["data"] == data


def test_uint64_json_round_trips_its_whole_range_exactly(client):
    data = [0, 2**63 - 1, 2**63, 2**64 - 1]
    body = {"inputs": [{"name": "x", "shape": [4], "datatype": "UINT64", "data": data}]}
    answer = client.post("/v2/models/echo/infer", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"][0]["data"] == data


@pytest.mark.parametrize("datatype", [*NUMERIC, "FP16"])
def test_every_numeric_datatype_round_trips_in_binary(client, datatype):
    array = (
        (np.arange(6).reshape(2, 3) % 2 == 1) if datatype == "BOOL" else np.arange(6).reshape(2, 3)
    )
    array = array.astype(NUMPY_DTYPES[datatype])
    body, headers = _binary_request([("x", datatype, array)], {"binary_data_output": True})
    answer = client.post("/v2/models/echo/infer", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/octet-stream"
    doc, raw = _split_binary(answer)
    out = doc["outputs"][0]
    assert out["parameters"]["binary_data_size"] == len(raw) == array.nbytes
    assert "data" not in out
    got = np.frombuffer(raw, dtype=NUMPY_DTYPES[datatype]).reshape(out["shape"])
    np.testing.assert_array_equal(got, array)


def test_fp16_binary_in_json_out(client):
    array = np.array([[0.5, -1.25]], dtype=np.float16)
    body, headers = _binary_request([("x", "FP16", array)])
    doc = client.post("/v2/models/echo/infer", content=body, headers=headers).json()
    assert doc["outputs"][0]["data"] == [0.5, -1.25]


def test_bytes_in_json_and_binary(client):
    body = {"inputs": [{"name": "x", "shape": [2], "datatype": "BYTES", "data": ["héllo", ""]}]}
    doc = client.post("/v2/models/echo/infer", json=body).json()
    assert doc["outputs"][0]["data"] == ["héllo", ""]
    array = np.array([b"a\x00b", b"", b"xyz"], dtype=object)
    content, headers = _binary_request(
        [("x", "BYTES", array)], outputs=[{"name": "out_x", "parameters": {"binary_data": True}}]
    )
    answer = client.post("/v2/models/echo/infer", content=content, headers=headers)
    doc, raw = _split_binary(answer)
    assert raw == b"".join(struct.pack("<I", len(v)) + v for v in array.tolist())
    assert doc["outputs"][0]["parameters"]["binary_data_size"] == len(raw)


def test_mixed_binary_and_json_inputs_and_requested_outputs(client):
    a = np.arange(4, dtype=np.int32).reshape(2, 2)
    b = np.array([True, False, True])
    raw_a, raw_b = a.tobytes(), b.astype(np.uint8).tobytes()
    head = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "a",
                    "shape": [2, 2],
                    "datatype": "INT32",
                    "parameters": {"binary_data_size": 16},
                },
                {"name": "j", "shape": [1], "datatype": "FP64", "data": [2.5]},
                {
                    "name": "b",
                    "shape": [3],
                    "datatype": "BOOL",
                    "parameters": {"binary_data_size": 3},
                },
            ],
            "outputs": [{"name": "out_b"}, {"name": "out_j", "parameters": {"binary_data": True}}],
        }
    )
    answer = client.post(
        "/v2/models/echo/infer",
        content=head + raw_a + raw_b,
        headers={"Inference-Header-Content-Length": str(len(head))},
    )
    assert answer.status_code == 200, answer.text
    doc, raw = _split_binary(answer)
    assert [o["name"] for o in doc["outputs"]] == ["out_j", "out_b"]
    assert doc["outputs"][1]["data"] == [True, False, True]
    assert np.frombuffer(raw, dtype="<f8").tolist() == [2.5]


def test_an_empty_outputs_list_returns_every_output(client):
    one = {"shape": [1], "datatype": "FP32", "data": [1.0]}
    body = {"inputs": [{"name": "a", **one}, {"name": "b", **one}], "outputs": []}
    answer = client.post("/v2/models/echo/infer", json=body)
    assert answer.status_code == 200, answer.text
    assert [o["name"] for o in answer.json()["outputs"]] == ["out_a", "out_b"]


def test_statistics(client):
    assert [s["name"] for s in client.get("/v2/models/stats").json()["model_stats"]]
    assert client.get("/v2/models/sum/stats").json()["model_stats"][0]["name"] == "sum"
    assert client.get("/v2/models/sum/versions/1/stats").status_code == 200
    assert client.get("/v2/models/nope/stats").status_code == 404


def test_metrics_endpoint(client):
    answer = client.get("/metrics")
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert b"inferd_up 1.0" in answer.content


def test_kserve_v1(client):
    assert client.get("/v1/models/sum").json() == {"name": "sum", "ready": True}
    answer = client.post("/v1/models/sum:predict", json={"instances": [[1, 2, 3], [1, 1, 1]]})
    assert answer.json() == {"predictions": [[6.0], [3.0]]}
    assert client.post("/v1/models/nope:predict", json={"instances": [[1]]}).status_code == 404
    assert client.post("/v1/models/sum:predict", json={"rows": []}).status_code == 400


def test_kserve_v1_explain_is_not_implemented_and_says_what_is(client):
    answer = client.post("/v1/models/sum:explain", json={"instances": [[1, 2, 3]]})
    assert answer.status_code == 501
    assert answer.json()["error"] == (
        "model 'sum' has no explainer: inferd serves predictions "
        "(POST /v1/models/sum:predict, /v2/models/sum/infer), not explanations"
    )
    assert client.post("/v1/models/nope:explain", json={}).status_code == 404


def test_overload_answers_503_with_retry_after(client):
    body = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}
    answer = client.post("/v2/models/full/infer", json=body)
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "2"
    assert "full" in answer.json()["error"]


@pytest.mark.parametrize(
    "path",
    ["/v2/repository/index", "/v2/repository/models/echo/load", "/v2/repository/models/x/unload"],
)
def test_data_plane_sends_control_routes_to_the_control_plane(client, path):
    """As the gRPC data listener: not a bare 'no route', but where they are served."""
    answer = client.post(path)
    assert answer.status_code == 404
    assert "served only on the control-plane listener" in answer.json()["error"]
    assert "--control-port" in answer.json()["error"]
