"""``inferd up`` stopped while a rollout from an alias move is under way. A rollout lives in the
process only, and the alias already names the candidate: before, a restart read the alias and
served the unchecked candidate to everyone, with no rollout (``rollout status``: "has no
rollout") and a history whose last line was the start. Now the stop aborts the rollout and
moves the alias back, so a restart serves the stable version."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest

from inferd.control.apply_plan import Applied
from inferd.control.gateway.metrics import GatewayMetrics
from inferd.control.reconciler import Reconciler
from inferd.control.rollout.controller import RolloutController
from inferd.control.rollout.history import RolloutHistory
from inferd.control.rollout.watch import AliasWatcher
from inferd.errors import NotFound
from inferd.spec.loading import parse_spec
from inferd.spec.model import Spec
from inferd.store import ModelStore

from ..conftest import fraud_store
from .test_alias_start_failure import SPEC


class EveryVersionStarts:
    """The running spec, changed as asked; each version serves what its reference names."""

    def __init__(self, spec: Spec, store: ModelStore) -> None:
        self.spec: Spec | None = spec
        self.store = store
        self.pins: dict[tuple[str, str], str] = {}
        for d in spec.deployments:
            for v in d.versions:
                self.pins[(d.name, v.name)] = self._pin(v.model)

    def _pin(self, model: str) -> str:
        return f"{model.split('@', maxsplit=1)[0]}@{self.store.resolve(model).digest}"

    async def change(self, edit: Callable[[Spec], Spec]) -> Applied:
        assert self.spec is not None
        self.spec = edit(self.spec)
        for d in self.spec.deployments:
            for v in d.versions:
                self.pins.setdefault((d.name, v.name), self._pin(v.model))
        return Applied([], [])

    def pinned(self, deployment: str, version: str) -> str | None:
        return self.pins.get((deployment, version))


def test_a_stop_mid_rollout_aborts_it_and_moves_the_alias_back(tmp_path: Path) -> None:
    store = fraud_store(tmp_path / "home")
    v1 = store.resolve("fraud:v1").digest
    store.tag("fraud:v1", "fraud:production")
    fake = EveryVersionStarts(parse_spec(SPEC), store)
    reconciler = cast(Reconciler, fake)
    rollouts = RolloutController(
        reconciler, store, GatewayMetrics().reading, RolloutHistory(tmp_path / "rollouts")
    )
    watcher = AliasWatcher(rollouts, reconciler, store)
    store.tag("fraud:v2", "fraud:production")  # the move that starts a rollout

    async def scenario() -> str:
        await watcher.check()
        (running,) = rollouts.status("fraud")
        await rollouts.stop()  # what inferd up's shutdown does
        return running["phase"]

    assert asyncio.run(scenario()) == "running"
    (status,) = rollouts.status("fraud")
    assert status["phase"] == "aborted"
    last = status["decisions"][-1]
    assert (last["event"], last.get("reason")) == ("abort", "inferd up stopped mid-rollout")
    assert last.get("reverted") == "fraud:production"
    assert store.resolve("fraud:production").digest == v1  # a restart serves v1
    assert rollouts.history.read("fraud")[-1] == last


TWO_VERSIONS = """apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: fraud
    versions:
      - {name: v1, model: "fraud:v1", replicas: 1}
      - {name: v2, model: "fraud:v2", replicas: 1}
    traffic: {weights: {v1: 100, v2: 0}}
    rollout: {steps: [50, 100], interval: 1m}
"""


def test_a_stop_ends_a_rollout_started_by_hand_in_its_history(tmp_path: Path) -> None:
    """Before, a stop left the history of a rollout from ``inferd rollout start`` at its last
    hold, as if it ran on, while the restart said "has no rollout": now it ends in an abort
    that says why. Traffic is the file's again after the restart, so nothing else moves."""
    store = fraud_store(tmp_path / "home")
    fake = EveryVersionStarts(parse_spec(TWO_VERSIONS), store)
    rollouts = RolloutController(
        cast(Reconciler, fake), store, GatewayMetrics().reading, RolloutHistory(tmp_path / "r")
    )

    async def scenario() -> str:
        started = await rollouts.start("fraud")
        await rollouts.stop()
        return started["phase"]

    assert asyncio.run(scenario()) == "running"
    (status,) = rollouts.status("fraud")
    assert status["phase"] == "aborted"
    last = rollouts.history.read("fraud")[-1]
    assert (last["event"], last.get("reason")) == ("abort", "inferd up stopped mid-rollout")
    assert "reverted" not in last
    assert fake.spec is not None and fake.spec.deployments[0].weights() == {"v1": 50, "v2": 50}


def test_after_a_restart_status_points_at_the_recorded_rollout(tmp_path: Path) -> None:
    """After a restart, ``inferd rollout status`` said "deployment 'fraud' has no rollout"
    while ``inferd rollout history`` listed one: it now says where the last one is."""
    store = fraud_store(tmp_path / "home")

    def up() -> RolloutController:  # one inferd up's controller over the same history
        fake = EveryVersionStarts(parse_spec(TWO_VERSIONS), store)
        reading = GatewayMetrics().reading
        return RolloutController(cast(Reconciler, fake), store, reading, RolloutHistory(tmp_path))

    first = up()

    async def scenario() -> str:
        started = await first.start("fraud")
        await first.stop()
        return started["id"]

    rollout_id = asyncio.run(scenario())
    with pytest.raises(NotFound) as caught:
        up().status("fraud")
    assert caught.value.message == (
        f"deployment 'fraud' has no rollout since inferd up started; its last, {rollout_id}, "
        "ended in abort: inferd up stopped mid-rollout (inferd rollout history fraud)"
    )
    with pytest.raises(NotFound, match=r"^deployment 'fraud' has no rollout$"):
        RolloutController(
            cast(Reconciler, EveryVersionStarts(parse_spec(TWO_VERSIONS), store)),
            store,
            GatewayMetrics().reading,
            RolloutHistory(tmp_path / "elsewhere"),
        ).status("fraud")
