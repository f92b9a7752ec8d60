"""Float outputs in JSON: JSON has no NaN or infinity, and orjson writes either as ``null``, so
an output of ``inf`` reached the client as ``null`` (tritonclient reads it back as NaN), silently.
It is refused instead, naming the output and the element, as a BYTES output that is not UTF-8 is
(test_trial_json_bytes.py); the binary extension carries it exactly."""

from __future__ import annotations

import httpx
import numpy as np
import orjson
import pytest

#: ``sum`` adds each row of FP32 x [N, 3] in float32: three of these overflow to +inf.
BIG = 3.0e38


@pytest.fixture
def client(data_server):
    with httpx.Client(base_url=data_server.url, timeout=10) as c:
        yield c


def _rows(*rows: list[float]) -> dict[str, object]:
    data = [v for row in rows for v in row]
    return {"inputs": [{"name": "x", "datatype": "FP32", "shape": [len(rows), 3], "data": data}]}


def test_an_infinite_output_is_refused_in_json_not_sent_as_null(client):
    answer = client.post("/v2/models/sum/infer", json=_rows([1, 2, 3], [BIG, BIG, BIG]))
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == (
        "output 'y': element 1 is inf, which JSON has no number for; ask for the output as "
        "binary data (parameters.binary_data: true)"
    )


def test_the_binary_extension_carries_it(client):
    body = {**_rows([1, 2, 3], [BIG, BIG, BIG]), "parameters": {"binary_data_output": True}}
    answer = client.post("/v2/models/sum/infer", json=body)
    assert answer.status_code == 200, answer.text
    length = int(answer.headers["inference-header-content-length"])
    assert orjson.loads(answer.content[:length])["outputs"][0]["parameters"] == {
        "binary_data_size": 8
    }
    np.testing.assert_array_equal(np.frombuffer(answer.content[length:], "<f4"), [6, np.inf])


def test_finite_outputs_are_unchanged(client):
    answer = client.post("/v2/models/sum/infer", json=_rows([1, 2, 3], [-1.5, 0, 1e30]))
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"][0]["data"] == [6.0, 1e30]  # float32's shortest form


def test_kserve_v1_predictions_are_refused_alike(client):
    answer = client.post("/v1/models/sum:predict", json={"instances": [[BIG, BIG, BIG]]})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == (
        "output 'y': element 0 is inf, which JSON has no number for; ask "
        "POST /v2/models/sum/infer for it as binary data (parameters.binary_data: true)"
    )
