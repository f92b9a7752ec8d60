"""`make up`'s script end to end: push the examples, `inferd up` the quickstart stack, curl it."""

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_quickstart_script_brings_up_the_stack_and_its_curl_answers(tmp_path: Path) -> None:
    home = tmp_path / "home"
    # The gRPC port too: its default, the port + 1, may be any process's ephemeral port.
    port, grpc_port = _free_port(), _free_port()
    while grpc_port == port:
        grpc_port = _free_port()
    env = {**os.environ, "INFERD_HOME": str(home), "INFERD_PORT": str(port),
           "INFERD_GRPC_PORT": str(grpc_port), "DEMO_TRAFFIC": "0"}  # fmt: skip
    done = subprocess.run(
        [str(ROOT / "scripts" / "quickstart")], env=env, capture_output=True, text=True,
        timeout=180, check=False,
    )  # fmt: skip
    pid = int((home / "up.pid").read_text())
    try:
        assert done.returncode == 0, done.stdout + done.stderr
        out = done.stdout
        assert "dashboard" in out and "v1 90% / v2 10%" in out
        answer = next(line for line in out.splitlines() if line.startswith('{"model_name"'))
        body = orjson.loads(answer)
        assert body["model_name"] == "fraud"
        assert {o["name"] for o in body["outputs"]} == {"label", "probabilities"}
        # inferd ps lists every replica of the spec: two of v1, v2, v2-shadow
        assert out.count("fraud-v1-") == 2 and "fraud-v2-shadow-1" in out
        # The stop command it prints stops it, draining.
        stop = next(line for line in out.splitlines() if line.startswith("Stop it with:"))
        command = stop.removeprefix("Stop it with:").split("  (")[0].strip()
        stopped = subprocess.run(
            command, shell=True, capture_output=True, text=True, timeout=150, check=False
        )
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert f"inferd up (pid {pid}) stopped in" in stopped.stdout
    finally:
        with contextlib.suppress(ProcessLookupError):  # inferd up may have exited on its own
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
            raise AssertionError("inferd up did not exit within 60 s of SIGTERM")
