"""Fixtures for rollout tests: faulty candidates in a store, specs with a rollout policy, and a
load that sends features uniform in [0, 1) (the candidates' faults depend on feature 0)."""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import orjson

from inferd.store import ModelStore

from ..conftest import fraud_store
from . import models

#: How many distinct request bodies the load cycles through.
BODIES = 512


def rollout_store(home: Path, work: Path) -> ModelStore:
    """fraud:v1 and fraud:v2 (quickstart) plus fraud:erroring, fraud:slow, fraud:divergent."""
    store = fraud_store(home)
    for name, build in (
        ("erroring", models.erroring),
        ("slow", models.slow),
        ("divergent", models.divergent),
    ):
        store.push(models.write(build(), work / name), f"fraud:{name}")
    return store


def spec_text(
    candidate: str,
    *,
    stable: str = "fraud:v1",
    strategy: str = "canary",
    steps: str = "[20, 50, 100]",
    interval: str = "300ms",
    analysis: str = "{max_error_rate: 0.01, min_requests: 20}",
    failure_limit: int = 2,
    weights: tuple[int, int] = (100, 0),
) -> str:
    """A ``fraud`` deployment: v1 (``stable``) and v2 (``candidate``), with a rollout policy."""
    steps_line = f"      steps: {steps}\n" if strategy == "canary" else ""
    return f"""apiVersion: inferd.dev/v1
kind: Stack
gateway: {{port: 0, drain_timeout: 10s}}
deployments:
  - name: fraud
    versions:
      - {{name: v1, model: "{stable}", replicas: 1}}
      - {{name: v2, model: "{candidate}", replicas: 1}}
    batching: {{max_batch_size: 1}}
    traffic:
      weights: {{v1: {weights[0]}, v2: {weights[1]}}}
    rollout:
      strategy: {strategy}
{steps_line}      interval: {interval}
      analysis: {analysis}
      failure_limit: {failure_limit}
"""


def _row(row: np.ndarray) -> dict[str, object]:
    return {"name": "input", "shape": [1, 8], "datatype": "FP32", "data": row.tolist()}


class RandomLoad:
    """Closed-loop load of random fraud rows; counts statuses and answering versions, and
    marks every result with the time it arrived (so tests can look at "after rollback")."""

    def __init__(self, port: int, workers: int = 3) -> None:
        rng = np.random.default_rng(7)
        rows = rng.random((BODIES, 8), dtype=np.float32)
        self.bodies = [orjson.dumps({"inputs": [_row(row)]}) for row in rows]
        self.port = port
        self.results: list[tuple[float, str, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(workers)
        ]

    def __enter__(self) -> RandomLoad:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)

    def since(self, start: float) -> tuple[Counter[str], Counter[str]]:
        """Statuses and answering versions of requests that finished after ``start``."""
        with self._lock:
            chosen = [r for r in self.results if r[0] >= start]
        return Counter(s for _, s, _ in chosen), Counter(v for _, _, v in chosen if v)

    def _run(self, worker: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        i = worker
        while not self._stop.is_set():
            body = self.bodies[i % len(self.bodies)]
            i += 7
            try:
                conn.request("POST", "/v2/models/fraud/infer", body,
                             {"Content-Type": "application/json"})  # fmt: skip
                response = conn.getresponse()
                data = response.read()
                version = ""
                if response.status == 200:
                    version = str(orjson.loads(data).get("model_version", ""))
                status = str(response.status)
            except (OSError, http.client.HTTPException) as exc:
                status, version = type(exc).__name__, ""
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            with self._lock:
                self.results.append((time.monotonic(), status, version))
        conn.close()
