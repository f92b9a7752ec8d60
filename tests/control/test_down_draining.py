"""``inferd down`` on an ``inferd up`` that is already stopping (a SIGTERM from systemd or a
script, a Ctrl-C) waits for it to exit, as ``docker stop`` does on a container that is
stopping: it answered ``error: cannot reach `inferd up` (pid N): Connection refused`` and exit 7
while that up was alive and draining (its admin API closes first), so a script's ``inferd down
&& inferd up`` failed, or started the next up into the old one's port."""

from __future__ import annotations

import http.client
import signal
import threading
import time
from pathlib import Path

import orjson
import pytest

from inferd.control.up_state import read_state
from inferd.packaging import push

from .conftest import fraud_store, start_up

pytestmark = pytest.mark.slow

MODEL_YAML = """\
runtime: python
entrypoint: model:Slow
inputs:
  - {name: input, datatype: FP32, shape: [-1, 1]}
outputs:
  - {name: out, datatype: FP32, shape: [-1]}
"""
MODEL_PY = """\
import time


class Slow:
    def load(self, path):
        pass

    def predict(self, inputs):
        time.sleep(float(inputs["input"][0, 0]))  # as long as the request says
        return {"out": inputs["input"][:, 0]}
"""
SPEC = """\
apiVersion: inferd.dev/v1
kind: Stack
gateway: {port: 0, drain_timeout: 60s, request_timeout: 60s}
deployments:
  - name: slow
    versions:
      - {name: a, model: "slow:v1", replicas: 1, trust_code: true}
    request_timeout: 60s
"""
BODY = b'{"inputs":[{"name":"input","shape":[1,1],"datatype":"FP32","data":[15]}]}'


def test_down_waits_for_an_up_that_is_already_draining(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = fraud_store(home)
    model = tmp_path / "slow"
    model.mkdir()
    (model / "inferd.model.yaml").write_text(MODEL_YAML)
    (model / "model.py").write_text(MODEL_PY)
    push(store, model, "slow:v1")
    spec = tmp_path / "inferd.yaml"
    spec.write_text(SPEC)
    up = start_up(home, spec)
    answers: list[int] = []

    def call() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", up.gateway_port, timeout=120)
        conn.request("POST", "/v2/models/slow/infer", BODY, {"Content-Type": "application/json"})
        answers.append(conn.getresponse().status)
        conn.close()

    caller = threading.Thread(target=call)
    try:
        caller.start()
        while not _outstanding(up.gateway_port):  # the request is on the replica
            time.sleep(0.05)
        up.proc.send_signal(signal.SIGTERM)  # it drains for the 15 s request
        while _admin_answers(up.state.admin_port):  # its admin API closes first
            time.sleep(0.05)
        assert read_state(home) is not None  # still running
        ps = up.cli("ps", check=False)
        assert ps.returncode == 7
        assert ps.stderr.startswith(
            f"error: cannot reach `inferd up` (pid {up.proc.pid}): it is stopping"
        )
        down = up.cli("down", check=False)
        assert down.returncode == 0, down.stderr
        assert f"inferd up (pid {up.proc.pid}) stopped" in down.stdout
        assert up.proc.poll() == 0
        caller.join()
        assert answers == [200]
    finally:
        up.stop()
        caller.join()


def _outstanding(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/api/status")
    status = orjson.loads(conn.getresponse().read())
    conn.close()
    return sum(
        r["outstanding"]
        for d in status["deployments"]
        for v in d["versions"]
        for r in v["replicas"]
    )


def _admin_answers(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/admin/status")
        conn.getresponse().read()
        conn.close()
    except OSError:
        return False
    return True
