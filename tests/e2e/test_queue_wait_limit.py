"""``inferd serve --max-queue-wait-ms`` against a real server: a request queued behind a running
batch for longer than the limit is answered 503 + Retry-After naming the setting, counted as
``unavailable``, and never runs; the batch in front of it still answers 200. The model (trusted
python code) holds every batch of non-zero inputs until the test creates a gate file, so the
order of events is the test's, not the clock's."""

from __future__ import annotations

import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest

from inferd.config import StoreSettings
from inferd.packaging import push
from inferd.store import ModelStore

pytestmark = pytest.mark.slow

GATED = """
import os
import time

GATE = {gate!r}


class Model:
    def predict(self, inputs):
        x = inputs["x"]
        if x.any():  # not the warm-up's zeros: wait at the gate (60 s at most)
            until = time.monotonic() + 60
            while not os.path.exists(GATE) and time.monotonic() < until:
                time.sleep(0.01)
        return {{"y": x}}
"""

CARD = """
runtime: python
entrypoint: model:Model
inputs:
  - {name: x, datatype: INT64, shape: [-1]}
outputs:
  - {name: y, datatype: INT64, shape: [-1]}
"""


def _body(value: int) -> dict[str, object]:
    return {"inputs": [{"name": "x", "shape": [1], "datatype": "INT64", "data": [value]}]}


def _series(text: str, name: str, *labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(label in line for label in labels):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_request_queued_past_the_limit_gets_503_and_never_runs(tmp_path: Path, serve) -> None:
    gate = tmp_path / "gate"
    source = tmp_path / "gated"
    source.mkdir()
    (source / "model.py").write_text(textwrap.dedent(GATED.format(gate=str(gate))))
    (source / "inferd.model.yaml").write_text(textwrap.dedent(CARD))
    home = tmp_path / "home"
    push(ModelStore.from_settings(StoreSettings(home=home)), source, "gated:v1")
    server = serve(home, "gated:v1", "--trust-code", "gated", "--max-queue-wait-ms", "100")
    infer = server.url + "/v2/models/gated/infer"
    answers: list[httpx.Response] = []
    first = threading.Thread(
        target=lambda: answers.append(httpx.post(infer, json=_body(1), timeout=90))
    )
    first.start()
    try:
        deadline = time.monotonic() + 60
        while _series(httpx.get(server.url + "/metrics").text, "inferd_inflight_requests",
                      'model="gated"') < 1:  # fmt: skip
            assert time.monotonic() < deadline, "the first request never reached the batcher"
            time.sleep(0.02)
        refused = httpx.post(infer, json=_body(2), timeout=30)
    finally:
        gate.touch()
        first.join(90)
    assert refused.status_code == 503, refused.text
    assert refused.headers["retry-after"].isdigit() and int(refused.headers["retry-after"]) >= 1
    assert "batching.max_queue_wait_ms" in refused.json()["error"]
    assert [a.status_code for a in answers] == [200], [a.text for a in answers]
    stats = httpx.get(server.url + "/v2/models/gated/stats").json()["model_stats"][0]
    assert stats["execution_count"] == 1 and stats["inference_count"] == 1  # never the second
    metrics = httpx.get(server.url + "/metrics").text
    assert _series(metrics, "inferd_requests_total", 'model="gated"', '"unavailable"') == 1
    assert _series(metrics, "inferd_requests_total", 'model="gated"', '"success"') == 1
