"""Cost per 1M tokens on a real ``inferd up`` of the tiny llama GGUF: the tokens the OpenAI
``usage`` of each answer reports are the tokens ``inferd cost report`` prices."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import orjson
import pytest

from control.conftest import INFERD, start_up
from llm_files import tiny_gguf

if os.environ.get("CI") != "true":
    pytest.importorskip("llama_cpp", reason="the llm extra is not installed (make test does)")

pytestmark = pytest.mark.slow

SPEC = """\
apiVersion: inferd.dev/v1
kind: Stack
gateway: {port: 0}
deployments:
  - name: bot
    llm: {max_num_seqs: 4, max_model_len: 512}
    versions: [{name: v1, model: "llm:v1", replicas: 1}]
    resources: {cpu: 1, memory: 512Mi}
cost: {cpu_core_hour: 0.36, memory_gib_hour: 0.036}
"""


def test_the_report_prices_the_tokens_the_answers_counted(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "INFERD_HOME": str(home)}
    model = tiny_gguf(tmp_path / "tiny.gguf")
    subprocess.run([*INFERD, "push", str(model), "llm:v1"], env=env, check=True, timeout=120,
                   capture_output=True)  # fmt: skip
    (tmp_path / "inferd.yaml").write_text(SPEC)
    up = start_up(home, tmp_path / "inferd.yaml")
    try:
        counted = 0
        with httpx.Client(base_url=f"http://127.0.0.1:{up.gateway_port}", timeout=60) as client:
            for i in range(5):
                body = {"model": "bot", "messages": [{"role": "user", "content": f"Hi {i}"}],
                        "max_tokens": 8}  # fmt: skip
                answer = client.post("/v1/chat/completions", json=body)
                assert answer.status_code == 200, answer.text
                counted += answer.json()["usage"]["total_tokens"]
        deadline = time.monotonic() + 60  # the sampler's next ticks, on a busy machine
        while True:  # no version at all until the sampler's first interval is in
            report = orjson.loads(up.cli("cost", "report", "--window", "2h", "--json").stdout)
            tokens = [v["tokens"] for v in report["versions"]]
            if tokens == [counted] or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert tokens == [counted]
        (v1,) = report["versions"]
        assert v1["per_1m_tokens"] == pytest.approx(v1["held"] / counted * 1e6)
    finally:
        assert up.stop() == 0
