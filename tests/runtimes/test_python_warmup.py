"""A trusted python model that refuses the empty strings the warm-up guesses for its text
input serves without a warm-up, as an in-process model does, rather than never loading."""

from __future__ import annotations

import http.client
import json
from pathlib import Path

import pytest

from e2e.conftest import start_serve, wait_ready
from inferd.config import StoreSettings
from inferd.packaging import push
from inferd.store import ModelStore

MODEL = """
import numpy as np

VOCAB = {"red": 0, "green": 1, "blue": 2}


class Model:
    def predict(self, inputs):
        return {"id": np.array([VOCAB[t.decode()] for t in inputs["color"]], dtype=np.int64)}
"""

CARD = """
runtime: python
entrypoint: model:Model
inputs:
  - {name: color, datatype: BYTES, shape: [-1]}
outputs:
  - {name: id, datatype: INT64, shape: [-1]}
"""


def post(port: int, color: str) -> tuple[int, dict[str, object]]:
    body = {"inputs": [{"name": "color", "shape": [1], "datatype": "BYTES", "data": [color]}]}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", "/v2/models/colors/infer", json.dumps(body))
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


@pytest.mark.slow
def test_a_model_refusing_the_guessed_empty_string_still_loads(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "model.py").write_text(MODEL)
    (source / "inferd.model.yaml").write_text(CARD)
    home = tmp_path / "home"
    push(ModelStore.from_settings(StoreSettings(home=home)), source, "colors:v1")
    server = start_serve(home, "colors:v1", "--trust-code", "colors")
    try:
        wait_ready(server.url)
        known = post(server.port, "green")
        unknown = post(server.port, "mauve")
    finally:
        server.stop()
    log = "".join(server.log)
    assert "colors:v1 refused the empty strings of its warm-up" in log
    assert known[0] == 200, known
    assert known[1]["outputs"] == [{"name": "id", "datatype": "INT64", "shape": [1], "data": [1]}]
    assert unknown[0] == 500 and "Traceback" not in str(unknown[1])


POSITIVE = """
import numpy as np
from inferd.errors import InvalidArgument


class Model:
    def predict(self, inputs):
        amount = inputs["amount"]
        if (amount <= 0).any():
            raise InvalidArgument("amount must be positive")
        return {"log_amount": np.log(amount)}
"""

POSITIVE_CARD = """
runtime: python
entrypoint: model:Model
inputs:
  - {name: amount, datatype: FP32, shape: [-1]}
outputs:
  - {name: log_amount, datatype: FP32, shape: [-1]}
"""


@pytest.mark.slow
def test_a_model_refusing_the_warm_ups_zeros_as_bad_input_still_loads(tmp_path: Path) -> None:
    """InvalidArgument is a python model's documented way to refuse bad input: raised on the
    warm-up's zeros it is the model working, not a signature it contradicts, so the version
    serves without a warm-up (it exited 2, "its warm-up inference … failed", for good)."""
    source = tmp_path / "src"
    source.mkdir()
    (source / "model.py").write_text(POSITIVE)
    (source / "inferd.model.yaml").write_text(POSITIVE_CARD)
    home = tmp_path / "home"
    push(ModelStore.from_settings(StoreSettings(home=home)), source, "pos:v1")
    server = start_serve(home, "pos:v1", "--trust-code", "pos")
    try:
        wait_ready(server.url)
        answers = []
        for amount in (1.0, -1.0):
            body = {"inputs": [{"name": "amount", "shape": [1], "datatype": "FP32",
                                "data": [amount]}]}  # fmt: skip
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            conn.request("POST", "/v2/models/pos/infer", json.dumps(body))
            response = conn.getresponse()
            answers.append((response.status, json.loads(response.read())))
            conn.close()
    finally:
        server.stop()
    log = "".join(server.log)
    assert "pos:v1 refused its warm-up's inputs (zeros and empty strings)" in log
    assert answers[0][0] == 200 and answers[0][1]["outputs"][0]["data"] == [0.0]
    assert answers[1][0] == 400 and "amount must be positive" in answers[1][1]["error"]
