"""Fixtures for rollout tests: faulty candidates in a store, specs with a rollout policy, and a
load that sends features uniform in [0, 1) (the candidates' faults depend on feature 0)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson

from inferd.packaging import push
from inferd.store import ModelStore
from loadgen import LoadGenerator

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
        push(store, models.write(build(), work / name), f"fraud:{name}")
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
    progress_deadline: str | None = None,
) -> str:
    """A ``fraud`` deployment: v1 (``stable``) and v2 (``candidate``), with a rollout policy."""
    steps_line = f"      steps: {steps}\n" if strategy == "canary" else ""
    deadline_line = (
        f"      progress_deadline: {progress_deadline}\n" if progress_deadline is not None else ""
    )
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
{deadline_line}      analysis: {analysis}
      failure_limit: {failure_limit}
"""


def _row(row: np.ndarray) -> dict[str, object]:
    return {"name": "input", "shape": [1, 8], "datatype": "FP32", "data": row.tolist()}


class RandomLoad(LoadGenerator):
    """Closed-loop load of random fraud rows; :meth:`~LoadGenerator.since` gives the statuses and
    answering versions of the requests after a given time (so tests can look at "after
    rollback")."""

    def __init__(self, port: int, workers: int = 3) -> None:
        rng = np.random.default_rng(7)
        rows = rng.random((BODIES, 8), dtype=np.float32)
        self.bodies = [orjson.dumps({"inputs": [_row(row)]}) for row in rows]
        super().__init__(
            port, "/v2/models/fraud/infer", self._nth_body, workers=workers, error_pause=0
        )

    def _nth_body(self, worker: int, n: int) -> bytes:
        """Worker ``w`` cycles through the bodies from ``w`` in steps of 7."""
        return self.bodies[(worker + 7 * n) % len(self.bodies)]
