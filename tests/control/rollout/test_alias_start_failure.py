"""An alias moved to a version whose replicas cannot start: a real store, a reconciler whose
candidate never becomes ready (as ``inferd up`` answers a model onnxruntime cannot load).

Before, the watcher logged the failure and tried again at its next look, every second, for as
long as the tag stayed there; ``inferd rollout status`` said nothing and the tag kept naming
the version that cannot load, so a restart of ``inferd up`` would have deployed it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import cast

from inferd.control.apply_plan import Applied
from inferd.control.gateway.metrics import GatewayMetrics
from inferd.control.reconciler import Reconciler
from inferd.control.rollout.controller import RolloutController
from inferd.control.rollout.history import RolloutHistory
from inferd.control.rollout.watch import AliasWatcher
from inferd.errors import Unavailable
from inferd.spec.loading import parse_spec
from inferd.spec.model import Spec
from inferd.store import ModelStore

from ..conftest import fraud_store

SPEC = """apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: fraud
    versions:
      - {name: v1, model: "fraud:production"}
    rollout: {steps: [50, 100], interval: 1m}
"""
CANNOT_START = "replica fraud-v1-next-1 cannot start fraud:production: onnxruntime cannot load"


class CandidateCannotStart:
    """The running spec; v1 serves ``serving``; any spec with another version fails to start."""

    def __init__(self, spec: Spec, serving: str) -> None:
        self.spec: Spec | None = spec
        self.serving = serving
        self.attempts = 0

    async def change(self, edit: Callable[[Spec], Spec]) -> Applied:
        assert self.spec is not None
        spec = edit(self.spec)
        if any(v.name != "v1" for d in spec.deployments for v in d.versions):
            self.attempts += 1
            raise Unavailable(CANNOT_START)
        self.spec = spec
        return Applied([], [])

    def pinned(self, deployment: str, version: str) -> str | None:
        return self.serving if (deployment, version) == ("fraud", "v1") else None


def test_an_alias_moved_to_a_version_that_cannot_start_fails_once_and_is_moved_back(
    tmp_path: Path,
) -> None:
    store = fraud_store(tmp_path / "home")
    v1 = store.resolve("fraud:v1").digest
    store.tag("fraud:v1", "fraud:production")
    fake = CandidateCannotStart(parse_spec(SPEC), f"fraud:production@{v1}")
    reconciler = cast(Reconciler, fake)
    rollouts = RolloutController(
        reconciler, store, GatewayMetrics().reading, RolloutHistory(tmp_path / "rollouts")
    )
    watcher = AliasWatcher(rollouts, reconciler, cast(ModelStore, store))
    store.tag("fraud:v2", "fraud:production")  # what `inferd push DIR fraud:production` does

    async def scenario() -> None:
        for _ in range(3):  # the watcher's next looks
            await watcher.check()

    asyncio.run(scenario())

    assert fake.attempts == 1  # not retried every second
    (status,) = rollouts.status("fraud")
    assert (status["phase"], status["candidate"], status["candidate_weight"]) == (
        "failed",
        "v1-next",
        0,
    )
    (record,) = status["decisions"]
    assert record["event"] == "failed"
    assert CANNOT_START in record.get("reason", "")
    # Moved back to the version still serving, so nothing that reads the alias deploys it.
    assert store.resolve("fraud:production").digest == v1
    assert record.get("reverted") == "fraud:production"
    assert record.get("reverted_to") == f"fraud@{v1}"
    assert rollouts.history.read("fraud") == [record]
