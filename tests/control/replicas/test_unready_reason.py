"""A replica that was ready and then fails its readiness probe says why in its reason (what
``inferd ps`` shows after ``starting``): a model whose sandbox worker crashes on every request
(its server answers 503 while the worker backs off) names the crash, as the replica's own log
said it; one that answers nothing says it is silent and will be restarted. Both used to read
``readiness probe failing`` alone, the reason only in the replica's log file."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
import orjson
import pytest

from inferd.control.replicas.topology import Topology

from ..conftest import fraud_store, spec_text
from .conftest import one_replica, store_with_python_model

pytestmark = pytest.mark.slow

MODEL_YAML = """\
runtime: python
entrypoint: model:Crashy
inputs:
  - {name: input, datatype: FP32, shape: [-1, 8]}
outputs:
  - {name: score, datatype: FP32, shape: [-1]}
"""
# Zeros (the warm-up's inputs) are answered; anything else kills the worker.
MODEL_PY = """\
import os
import signal

import numpy as np


class Crashy:
    def load(self, path):
        pass

    def predict(self, inputs):
        x = inputs["input"]
        if np.abs(x).sum() > 0:
            os.kill(os.getpid(), signal.SIGSEGV)
        return {"score": np.zeros(x.shape[0], dtype=np.float32)}
"""
SPEC = """\
apiVersion: inferd.dev/v1
kind: Stack
gateway: {port: 0, drain_timeout: 5s}
deployments:
  - name: crashy
    versions:
      - {name: a, model: "crashy:v1", replicas: 1, trust_code: true}
"""
CRASH = orjson.dumps(
    {"inputs": [{"name": "input", "shape": [1, 8], "datatype": "FP32", "data": [1.0] * 8}]}
)
#: A bound on waiting for the outcome (not a timing assertion): the machine is shared.
PATIENCE_S = 120


def _reasons(seen: list[Topology], deployment: str) -> list[str]:
    return [
        r.reason for t in seen for d in t.deployments.values() if d.name == deployment
        for v in d.versions for r in v.replicas if r.state == "starting" and r.reason
    ]  # fmt: skip


def test_a_crash_looping_model_names_the_crash(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = store_with_python_model(home, tmp_path / "crashy", "crashy:v1", MODEL_YAML, MODEL_PY)
    seen: list[Topology] = []

    async def main() -> None:
        async with one_replica(store, home, SPEC, seen) as replica:
            url = f"http://127.0.0.1:{replica.port}/v2/models/crashy/infer"
            began = time.monotonic()
            async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
                while not _reasons(seen, "crashy"):
                    assert time.monotonic() - began < PATIENCE_S, replica.reason
                    await client.post(url, content=CRASH)
                    await asyncio.sleep(0.2)

    asyncio.run(main())
    reason = _reasons(seen, "crashy")[0]
    assert "readiness probe failing" in reason, reason
    assert "worker crashed (SIGSEGV)" in reason, reason


def test_a_silent_replica_says_it_is_silent(tmp_path: Path) -> None:
    home = tmp_path / "home"
    seen: list[Topology] = []

    async def main() -> None:
        spec = spec_text({"v1": ("fraud:v1", 1, 100)})
        async with one_replica(fraud_store(home), home, spec, seen) as replica:
            pid = replica.pid
            assert pid is not None
            os.kill(pid, signal.SIGSTOP)
            try:
                began = time.monotonic()
                while not _reasons(seen, "fraud"):
                    assert time.monotonic() - began < PATIENCE_S, replica.reason
                    await asyncio.sleep(0.1)
            finally:
                os.kill(pid, signal.SIGCONT)

    asyncio.run(main())
    reason = _reasons(seen, "fraud")[0]
    assert "no answer to its health probes" in reason, reason
    assert "restarted" in reason, reason
