"""A trusted python model that refuses the empty strings the warm-up guesses for its text
input serves without a warm-up, as an in-process model does, rather than never loading."""

from __future__ import annotations

import http.client
import json
from pathlib import Path

import pytest

from e2e.conftest import ServeProcess, start_serve, wait_ready
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


def serve_trusted(tmp_path: Path, name: str, model_py: str, card: str) -> ServeProcess:
    """``model_py`` and its ``card`` pushed as ``NAME:v1`` and served as ``name`` with
    ``--trust-code`` (the caller stops it)."""
    source = tmp_path / "src"
    source.mkdir()
    (source / "model.py").write_text(model_py)
    (source / "inferd.model.yaml").write_text(card)
    home = tmp_path / "home"
    push(ModelStore.from_settings(StoreSettings(home=home)), source, f"{name}:v1")
    return start_serve(home, f"{name}:v1", "--trust-code", name)


def post(port: int, model: str, tensor: dict[str, object]) -> tuple[int, dict[str, object]]:
    """The status and JSON answer of a V2 inference of one input ``tensor``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", f"/v2/models/{model}/infer", json.dumps({"inputs": [tensor]}))
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def color(value: str) -> dict[str, object]:
    return {"name": "color", "shape": [1], "datatype": "BYTES", "data": [value]}


@pytest.mark.slow
def test_a_model_refusing_the_guessed_empty_string_still_loads(tmp_path: Path) -> None:
    server = serve_trusted(tmp_path, "colors", MODEL, CARD)
    try:
        wait_ready(server.url)
        known = post(server.port, "colors", color("green"))
        unknown = post(server.port, "colors", color("mauve"))
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
    server = serve_trusted(tmp_path, "pos", POSITIVE, POSITIVE_CARD)
    try:
        wait_ready(server.url)
        amount = {"name": "amount", "shape": [1], "datatype": "FP32"}
        answers = [post(server.port, "pos", {**amount, "data": [x]}) for x in (1.0, -1.0)]
    finally:
        server.stop()
    log = "".join(server.log)
    assert "pos:v1 refused its warm-up's inputs (zeros and empty strings)" in log
    assert answers[0][0] == 200 and answers[0][1]["outputs"][0]["data"] == [0.0]
    assert answers[1][0] == 400 and "amount must be positive" in answers[1][1]["error"]
