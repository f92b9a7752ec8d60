"""A canary whose candidate, scaled to zero, cannot start (a model that cannot load).

The first step routes 20 % to the candidate; the autoscaler wakes it and its start fails.
Clients routed to it got 503 ("could not start a replica") until ``failure_limit`` failed
analyses rolled it back (88 failed requests in a tester's run), where an alias move to the same
model ends at once in phase ``failed``. The autoscaler now tells the controller
(:meth:`RolloutController.start_failed`, wired by ``inferd up``), and the rollout fails at once
with the replica's reason, its traffic back on the stable version.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

import pytest

from inferd.control.gateway.metrics import GatewayMetrics
from inferd.control.reconciler import Reconciler as RealReconciler
from inferd.control.replicas.backoff import BackoffPolicy
from inferd.control.rollout.controller import RolloutController
from inferd.control.rollout.history import RolloutHistory
from inferd.errors import Unavailable
from inferd.spec.edits import deployment_of
from inferd.spec.loading import parse_spec
from inferd.store import ModelStore

from ..autoscale.fakes import EditingReconciler, wire
from ..conftest import spec_text
from .test_controller import SpecOnly, finished

REASON = (
    "deployment 'fraud' could not start a replica: replica fraud-v2-1 cannot start "
    "fraud:broken: onnxruntime cannot load 'model.onnx'"
)


def controller(tmp_path: Path) -> tuple[RolloutController, SpecOnly]:
    spec = parse_spec("""apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: fraud
    versions:
      - {name: v1, model: "fraud:v1", replicas: 1}
      - {name: v2, model: "fraud:broken", replicas: 0}
    traffic: {weights: {v1: 100}}
    autoscaling: {min_replicas: 0, max_replicas: 2}
    rollout: {steps: [20, 100], interval: 1m, failure_limit: 2}
""")
    reconciler = SpecOnly(spec)
    history = RolloutHistory(tmp_path)
    rollouts = RolloutController(
        cast(RealReconciler, reconciler), cast(ModelStore, None), GatewayMetrics().reading, history
    )
    return rollouts, reconciler


def weights(reconciler: SpecOnly) -> dict[str, int]:
    assert reconciler.spec is not None
    return deployment_of(reconciler.spec, "fraud").weights()


def test_a_candidate_that_cannot_start_fails_the_rollout_at_once(tmp_path: Path) -> None:
    rollouts, reconciler = controller(tmp_path)

    async def scenario() -> None:
        try:
            assert (await rollouts.start("fraud"))["candidate_weight"] == 20
            await rollouts.start_failed("fraud", "v2", REASON)
            status = rollouts.status("fraud")[0]
            assert (status["phase"], status["candidate_weight"]) == ("failed", 0)
            assert weights(reconciler) == {"v1": 100, "v2": 0}
            last = rollouts.decisions("fraud")[-1]
            assert (last["event"], last.get("reason")) == ("failed", REASON)
        finally:
            await rollouts.stop()

    asyncio.run(scenario())


def test_a_start_failure_of_another_version_leaves_the_rollout_running(tmp_path: Path) -> None:
    rollouts, reconciler = controller(tmp_path)

    async def scenario() -> None:
        try:
            await rollouts.start("fraud")
            await rollouts.start_failed("fraud", "v1", REASON)  # the stable version: not judged
            await rollouts.start_failed("other", "v2", REASON)  # another deployment
            status = rollouts.status("fraud")[0]
            assert (status["phase"], status["candidate_weight"]) == ("running", 20)
            assert weights(reconciler) == {"v1": 80, "v2": 20}
        finally:
            await rollouts.stop()

    asyncio.run(scenario())


def test_a_start_failure_after_the_rollout_ended_changes_nothing(tmp_path: Path) -> None:
    rollouts, _ = controller(tmp_path)

    async def scenario() -> None:
        try:
            await rollouts.start("fraud")
            await rollouts.abort("fraud")
            await rollouts.start_failed("fraud", "v2", REASON)
            assert rollouts.status("fraud")[0]["phase"] == "aborted"
            assert [d["event"] for d in rollouts.decisions("fraud")] == ["start", "abort"]
        finally:
            await rollouts.stop()

    asyncio.run(scenario())


class Reconciler(EditingReconciler):
    """Edits its spec; a start of ``fraud:broken`` fails (the autoscaler's fake reconciler)."""

    def pinned(self, deployment: str, version: str) -> str | None:
        return None  # nothing runs: no tag to watch or move


def test_the_autoscaler_fails_the_canary_whose_candidate_cannot_start(tmp_path: Path) -> None:
    """The autoscaler and the gateway's cold start wired to the controller as ``inferd up``
    wires them: the first request routed to the candidate wakes it, its start fails, and the
    rollout fails then — not ``failure_limit`` analyses (of 503s) later."""
    spec = parse_spec(
        spec_text({"v1": ("fraud:v1", 1, 100), "v2": ("fraud:broken", 0, 0)})
        + "    autoscaling: {min_replicas: 0, max_replicas: 2, cold_start_timeout: 8s}\n"
        + "    rollout: {steps: [20, 100], interval: 1m, failure_limit: 2}\n"
    )
    reconciler = Reconciler(spec, BackoffPolicy(initial_s=0.2, factor=2.0, max_s=30.0), 0.01)
    wired = wire(reconciler)
    autoscale, cold = wired.loop, wired.cold
    rollouts = RolloutController(
        cast(RealReconciler, reconciler),
        cast(ModelStore, None),
        GatewayMetrics().reading,
        RolloutHistory(tmp_path),
    )
    autoscale.start_failure_listeners.append(rollouts.start_failed)

    async def scenario() -> None:
        try:
            assert (await rollouts.start("fraud"))["candidate_weight"] == 20
            with pytest.raises(Unavailable, match=r"could not start a replica: .*cannot load"):
                await cold.hold("fraud", "v2")  # a request the gateway routed to v2
            assert await finished(rollouts) == "failed"
            assert deployment_of(reconciler.spec, "fraud").weights() == {"v1": 100, "v2": 0}
            last = rollouts.decisions("fraud")[-1]
            assert last["event"] == "failed"
            assert "could not start a replica: replica fraud-v2-1 cannot start" in str(
                last.get("reason")
            )
        finally:
            await rollouts.stop()
            await autoscale.stop()

    asyncio.run(scenario())
