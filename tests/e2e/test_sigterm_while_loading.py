"""RELIABILITY R1 while ``inferd serve`` is still loading its start-up models: SIGTERM stops the
loads, drains what already serves (a request in flight to the model loaded beside the slow one
is answered), removes the control token file and exits 0. It used to be killed outright (143),
with nothing logged and the token file left in the home."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import textwrap
import threading
import time
from pathlib import Path

import orjson
import pytest

from e2e.conftest import FRAUD_BODY, INFERD, QUICKSTART
from inferd.config import StoreSettings
from inferd.packaging import push
from inferd.store import ModelStore

pytestmark = pytest.mark.slow

SLOW_LOAD = """
import time

class Model:
    def __init__(self):
        time.sleep(60)

    def predict(self, inputs):
        return {"y": inputs["x"]}
"""

CARD = """
runtime: python
entrypoint: model:Model
inputs:
  - {name: x, datatype: INT64, shape: [-1]}
outputs:
  - {name: y, datatype: INT64, shape: [-1]}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _status(port: int, path: str) -> int:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(
                f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode()
            )
            return int(sock.recv(65536).split()[1])
    except OSError:
        return 0


def test_sigterm_during_the_start_up_loads_drains_and_exits_0(tmp_path: Path) -> None:
    source = tmp_path / "slow"
    source.mkdir()
    (source / "model.py").write_text(textwrap.dedent(SLOW_LOAD))
    (source / "inferd.model.yaml").write_text(textwrap.dedent(CARD))
    home = tmp_path / "home"
    store = ModelStore.from_settings(StoreSettings(home=home))
    push(store, source, "slow:v1")
    push(store, QUICKSTART / "fraud-v1", "fraud:v1")
    port, control = _free_port(), _free_port()
    proc = subprocess.Popen(
        [*INFERD, "serve", "fraud:v1", "slow:v1", "--trust-code", "slow", "--port", str(port),
         "--control-port", str(control), "--grpc-port", "0", "--control-grpc-port", "0"],
        env={**os.environ, "INFERD_HOME": str(home), "INFERD_DRAIN_DELAY_S": "0"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    log: list[str] = []
    assert proc.stderr is not None
    reader = threading.Thread(target=lambda: log.extend(proc.stderr), daemon=True)  # type: ignore[arg-type]
    reader.start()
    token = home / f"server-{control}.token"
    held = None
    try:
        deadline = time.monotonic() + 60
        while _status(port, "/v2/models/fraud/ready") != 200 or not token.exists():
            assert proc.poll() is None, "".join(log)
            assert time.monotonic() < deadline, "fraud never became ready"
            time.sleep(0.05)
        assert _status(port, "/v2/health/ready") == 503  # slow:v1 is still loading
        body = orjson.dumps(FRAUD_BODY)
        held = socket.create_connection(("127.0.0.1", port), timeout=30)
        held.sendall(
            b"POST /v2/models/fraud/infer HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body[:10]
        )
        time.sleep(0.2)  # the head is read: the request is in flight
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        held.sendall(body[10:])
        answer = b""
        while chunk := held.recv(65536):
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
        assert proc.wait(30) == 0, "".join(log)
    finally:
        if held is not None:
            held.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(10)
    proc.stderr.close()
    assert not token.exists()
    assert any("signal" in line for line in log), "".join(log)
