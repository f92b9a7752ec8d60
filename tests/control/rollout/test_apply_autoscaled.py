"""An apply while a rollout runs, in a deployment the autoscaler scales: the main version's
count is the autoscaler's, so the file's ``replicas`` is no change to refuse."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

import pytest

from inferd.control.gateway.metrics import GatewayMetrics
from inferd.control.reconciler import Reconciler
from inferd.control.rollout.controller import RolloutController
from inferd.control.rollout.history import RolloutHistory
from inferd.errors import AlreadyExists
from inferd.spec.edits import deployment_of, replace_deployment, with_replicas
from inferd.spec.loading import parse_spec
from inferd.spec.model import Spec
from inferd.store import ModelStore

from .test_controller import SpecOnly


def file(v2_replicas: int = 1, other_replicas: int = 1) -> Spec:
    """The user's file: v1 (2 replicas, autoscaled between 1 and 4) and v2 beside it."""
    return parse_spec(f"""apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: fraud
    versions:
      - {{name: v1, model: "fraud:v1", replicas: 2}}
      - {{name: v2, model: "fraud:v2", replicas: {v2_replicas}}}
    traffic: {{weights: {{v1: 100, v2: 0}}}}
    autoscaling: {{min_replicas: 1, max_replicas: 4}}
    rollout: {{steps: [20, 100], interval: 1m}}
  - name: other
    versions:
      - {{name: a, model: "fraud:v1", replicas: {other_replicas}}}
""")


async def scale(reconciler: SpecOnly, replicas: int) -> None:
    """What the autoscaler does: set v1's count in the running spec."""
    await reconciler.change(
        lambda s: replace_deployment(s, with_replicas(deployment_of(s, "fraud"), "v1", replicas))
    )


def test_reapplying_the_file_during_a_rollout_of_an_autoscaled_deployment_is_no_change(
    tmp_path: Path,
) -> None:
    """The autoscaler trimmed v1 from the file's 2 replicas to 1, then scaled it to 3 during
    the rollout: re-applying the unchanged file (or one that changes another deployment) was
    refused as a change to the deployment in rollout (exit 4, 'promote or abort it before
    changing the deployment'). It keeps the rollout as it runs; a real change is still
    refused."""
    reconciler = SpecOnly(file())
    rollouts = RolloutController(
        cast(Reconciler, reconciler),
        cast(ModelStore, None),
        GatewayMetrics().reading,
        RolloutHistory(tmp_path),
    )

    async def scenario() -> None:
        await scale(reconciler, 1)
        await rollouts.start("fraud")
        try:
            await scale(reconciler, 3)
            running = reconciler.spec
            await rollouts.apply(file())
            assert reconciler.spec == running  # the rollout's traffic, the autoscaler's count
            await rollouts.apply(file(other_replicas=2))
            assert reconciler.spec is not None
            assert deployment_of(reconciler.spec, "other").versions[0].replicas == 2
            assert deployment_of(reconciler.spec, "fraud") == deployment_of(running, "fraud")
            with pytest.raises(AlreadyExists, match="is in rollout"):
                await rollouts.apply(file(v2_replicas=2))
            assert rollouts.status("fraud")[0]["phase"] == "running"
        finally:
            await rollouts.stop()

    asyncio.run(scenario())
