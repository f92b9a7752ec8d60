"""The python runtime served for real: the example's README as written, trust recorded, and a
crashing or memory-hungry model failing only its own request while an ONNX model serves on
(RELIABILITY R6)."""

from __future__ import annotations

import http.client
import json
import os
import re
import shlex
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from onnx import TensorProto

from e2e.conftest import INFERD, ROOT, Load, ServeProcess, identity_model, start_serve, wait_ready
from inferd.config import StoreSettings
from inferd.packaging import push
from inferd.spec.model import Spec
from inferd.store import ModelStore

from .conftest import EXAMPLES

README = EXAMPLES / "python-model" / "README.md"

pytestmark = pytest.mark.slow


def fenced(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def post(server: ServeProcess, model: str, value: float) -> tuple[int, dict[str, str], bytes]:
    body = {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [value]}]}
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("POST", f"/v2/models/{model}/infer", json.dumps(body))
        response = conn.getresponse()
        headers = {k.lower(): v for k, v in response.getheaders()}
        return response.status, headers, response.read()
    finally:
        conn.close()


def test_the_readme_commands_run_as_written(tmp_path: Path) -> None:
    text = README.read_text()
    (commands,) = fenced(text, "sh")
    lines = [shlex.split(line) for line in commands.splitlines() if line.strip()]
    assert [line[:2] for line in lines] == [
        ["inferd", "push"], ["inferd", "serve"], ["curl", "-s"], ["inferd", "history"],
    ]  # fmt: skip
    push, serve, curl, history = lines
    home = tmp_path / "home"
    env = {**os.environ, "INFERD_HOME": str(home)}
    subprocess.run([*INFERD, *push[1:]], cwd=ROOT, env=env, check=True, capture_output=True)
    server = start_serve(home, *serve[2:])
    try:
        wait_ready(server.url)
        curl = [arg.replace("localhost:8080", f"127.0.0.1:{server.port}") for arg in curl]
        answer = json.loads(subprocess.run(curl, capture_output=True, check=True).stdout)
        listed = subprocess.run(
            [*INFERD, *history[1:]], env=env, check=True, capture_output=True, text=True
        ).stdout
    finally:
        server.stop()
    (shown,) = fenced(text, "json")
    expected = json.loads(shown)
    assert {k: v for k, v in answer.items() if k != "outputs"} == {
        k: v for k, v in expected.items() if k != "outputs"
    }
    for got, want in zip(answer["outputs"], expected["outputs"], strict=True):
        assert {k: got[k] for k in ("name", "datatype", "shape")} == {
            k: want[k] for k in ("name", "datatype", "shape")
        }
        np.testing.assert_allclose(got["data"], want["data"], atol=1e-5)
    digest = ModelStore(home).resolve("fraud-rules:v1").digest
    trust_lines = [line for line in listed.splitlines() if " trust " in line]
    assert len(trust_lines) == 1 and digest.removeprefix("sha256:")[:12] in trust_lines[0]
    (stack,) = fenced(text, "yaml")
    version = Spec.model_validate(yaml.safe_load(stack)).deployments[0].versions[0]
    assert version.trust_code


SIGNATURE = """
runtime: python
entrypoint: model:Model
inputs:
  - {name: x, datatype: FP32, shape: [-1, 1]}
outputs:
  - {name: y, datatype: FP32, shape: [-1, 1]}
"""


def python_model(directory: Path, on_13: str) -> Path:
    """Echoes ``x``; runs ``on_13`` first when the input is 13."""
    directory.mkdir(parents=True)
    (directory / "inferd.model.yaml").write_text(SIGNATURE)
    (directory / "model.py").write_text(
        "import ctypes\nimport numpy as np\n\nclass Model:\n"
        "    def predict(self, inputs):\n"
        "        if float(inputs['x'][0, 0]) == 13:\n"
        f"            {on_13}\n"
        "        return {'y': inputs['x']}\n"
    )
    return directory


def test_a_crash_or_oom_fails_only_that_request_and_the_onnx_model_serves_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    store = ModelStore.from_settings(StoreSettings(home=home))
    push(store, identity_model(tmp_path / "id", TensorProto.FLOAT), "id-fp32:v1")
    push(store, python_model(tmp_path / "crashy", "ctypes.string_at(0)"), "crashy:v1")
    push(store, python_model(tmp_path / "hungry", "np.ones(4 * 1024**3, np.uint8)"), "hungry:v1")
    push(store, python_model(tmp_path / "untrusted", "pass"), "untrusted:v1")
    monkeypatch.setenv("INFERD_SANDBOX__MAX_ADDRESS_SPACE_BYTES", str(1024**3))
    server = start_serve(
        home, "id-fp32:v1", "crashy:v1", "hungry:v1", "untrusted:v1",
        "--trust-code", "crashy", "--trust-code", "hungry:v1",
    )  # fmt: skip
    onnx_body = {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [1.0]}]}
    try:
        for model in ("id-fp32", "crashy", "hungry"):
            wait_model_ready(server, model)
        with Load(server.url, "/v2/models/id-fp32/infer", onnx_body, workers=2) as load:
            load.wait_for(50)
            for model, why in (("crashy", "crashed (SIGSEGV)"), ("hungry", "ran out of memory")):
                status, headers, body = post(server, model, 13.0)
                assert status == 503, body
                assert why in json.loads(body)["error"] and "retry-after" in headers
                status, _, body = post(server, model, 2.0)  # the worker was restarted
                assert status == 200, body
                assert json.loads(body)["outputs"][0]["data"] == [2.0]
            load.wait_for(50)
        assert load.failed() == {}, load.outcomes
        assert server.proc.poll() is None
    finally:
        server.stop()
    log = "".join(server.log)
    assert "model untrusted:v1 FAILED: the python runtime runs code shipped inside" in log
    assert "--trust-code untrusted" in log
    trusted = {(e.action, e.tag) for name in ("crashy", "hungry") for e in store.history(name)}
    assert trusted == {("push", "v1"), ("trust", "v1")}
    assert [e.action for e in store.history("untrusted")] == ["push"]


def wait_model_ready(server: ServeProcess, model: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=2)
        try:
            conn.request("GET", f"/v2/models/{model}/ready")
            if conn.getresponse().status == 200:
                return
        finally:
            conn.close()
        time.sleep(0.05)
    raise AssertionError(f"{model} never became ready")
