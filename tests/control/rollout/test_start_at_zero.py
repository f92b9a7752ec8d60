"""``inferd rollout start`` of a candidate scaled to zero.

Under ``autoscaling.min_replicas: 0`` a version at zero replicas with a weight is woken by the
first request routed to it (docs/autoscaling.md, scale from zero), so a canary step gives it
the traffic that starts it. ``start`` refused it all the same ("has 0 replicas to send traffic
to"), as it rightly does where nothing would ever start one.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

import pytest

from inferd.control.gateway.metrics import GatewayMetrics
from inferd.control.reconciler import Reconciler
from inferd.control.rollout.controller import RolloutController
from inferd.control.rollout.history import RolloutHistory
from inferd.errors import InvalidArgument
from inferd.spec.loading import parse_spec
from inferd.store import ModelStore

from .test_controller import SpecOnly


def controller(tmp_path: Path, autoscaling: str) -> RolloutController:
    spec = parse_spec(f"""apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: fraud
    versions:
      - {{name: v1, model: "fraud:v1", replicas: 1}}
      - {{name: v2, model: "fraud:v2", replicas: 0}}
    traffic: {{weights: {{v1: 100}}}}
    rollout: {{steps: [50, 100], interval: 1m}}
{autoscaling}""")
    reconciler = cast(Reconciler, SpecOnly(spec))
    history = RolloutHistory(tmp_path)
    return RolloutController(reconciler, cast(ModelStore, None), GatewayMetrics().reading, history)


def test_a_candidate_at_zero_that_scales_from_zero_is_rolled_out(tmp_path: Path) -> None:
    rollouts = controller(tmp_path, "    autoscaling: {min_replicas: 0, max_replicas: 2}\n")

    async def scenario() -> None:
        try:
            status = await rollouts.start("fraud")
            assert (status["phase"], status["candidate"], status["candidate_weight"]) == (
                "running",
                "v2",
                50,
            )
        finally:
            await rollouts.stop()

    asyncio.run(scenario())


def test_a_candidate_at_zero_that_nothing_starts_is_refused(tmp_path: Path) -> None:
    for autoscaling in ("", "    autoscaling: {min_replicas: 1, max_replicas: 2}\n"):
        rollouts = controller(tmp_path, autoscaling)
        with pytest.raises(InvalidArgument, match="candidate 'v2' has 0 replicas"):
            asyncio.run(rollouts.start("fraud"))
