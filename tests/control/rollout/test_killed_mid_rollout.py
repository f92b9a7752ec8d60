"""``inferd up`` killed (SIGKILL, the OOM killer, a reboot) while a rollout is under way runs no
stop: before, its history ended at the rollout's last decision as if it ran on, and the alias an
alias move had moved still named the unchecked candidate, which the restart served to everyone
with no rollout. The next ``inferd up`` of the store now ends such a rollout as a stop would
have (an ``abort`` that says the process was killed) and moves the alias back, before it
applies anything."""

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
from inferd.control.rollout.recovery import KILLED, end_interrupted
from inferd.control.rollout.watch import AliasWatcher
from inferd.spec.loading import parse_spec
from inferd.spec.model import Spec
from inferd.store import ModelStore

from ..conftest import fraud_store
from .test_alias_start_failure import SPEC
from .test_stop_mid_rollout import TWO_VERSIONS, EveryVersionStarts


def controller(spec: str, store: ModelStore, home: Path) -> RolloutController:
    fake = EveryVersionStarts(parse_spec(spec), store)
    reading = GatewayMetrics().reading
    return RolloutController(cast(Reconciler, fake), store, reading, RolloutHistory(home))


async def until_started(watcher: AliasWatcher, history: RolloutHistory) -> None:
    """Let the watcher start the rollout the alias move calls for, until its start is in."""
    await watcher.check()
    while not history.read("fraud"):
        await asyncio.sleep(0.01)


def test_an_alias_move_killed_mid_rollout_is_aborted_and_moved_back(tmp_path: Path) -> None:
    store = fraud_store(tmp_path / "home")
    v1 = store.resolve("fraud:v1").digest
    store.tag("fraud:v1", "fraud:production")
    killed = controller(SPEC, store, tmp_path)
    watcher = AliasWatcher(killed, killed.reconciler, store)
    store.tag("fraud:v2", "fraud:production")  # the move that starts a rollout

    history = RolloutHistory(tmp_path)
    asyncio.run(until_started(watcher, history))  # then the process dies: no stop runs
    assert history.read("fraud")[-1]["event"] == "start"

    lines = asyncio.run(end_interrupted(history, store))
    last = history.read("fraud")[-1]
    assert last["event"] == "abort" and last.get("reason", "").startswith(f"{KILLED}; ")
    assert last["rollout"] == history.read("fraud")[0]["rollout"]
    assert last.get("reverted") == "fraud:production"
    assert last.get("reverted_to") == f"fraud@{v1}"
    assert store.resolve("fraud:production").digest == v1  # the restart serves v1
    (line,) = lines
    assert line.startswith(f"fraud: rollout {last['rollout']} was under way when inferd up ")
    assert "fraud:production moved back to fraud@sha256:" in line
    assert asyncio.run(end_interrupted(history, store)) == []  # once


def test_an_alias_moved_again_since_the_kill_stays(tmp_path: Path) -> None:
    store = fraud_store(tmp_path / "home")
    store.tag("fraud:v1", "fraud:production")
    killed = controller(SPEC, store, tmp_path)
    watcher = AliasWatcher(killed, killed.reconciler, store)
    store.tag("fraud:v2", "fraud:production")
    asyncio.run(until_started(watcher, RolloutHistory(tmp_path)))
    store.tag("fraud:v1", "fraud:production")  # a person's move while inferd up was down

    history = RolloutHistory(tmp_path)
    asyncio.run(end_interrupted(history, store))
    last = history.read("fraud")[-1]
    assert (last["event"], last.get("reverted")) == ("abort", None)
    moves = [e for e in store.history("fraud") if e.tag == "production"]
    assert len(moves) == 3  # v1, v2, and the person's: nothing of the restart's


def test_a_rollout_started_by_hand_ends_in_an_abort_and_a_finished_one_is_left(
    tmp_path: Path,
) -> None:
    store = fraud_store(tmp_path / "home")
    killed = controller(TWO_VERSIONS, store, tmp_path)

    async def until_killed() -> str:
        return (await killed.start("fraud"))["id"]

    rollout_id = asyncio.run(until_killed())
    history = RolloutHistory(tmp_path)
    (line,) = asyncio.run(end_interrupted(history, store))
    last = history.read("fraud")[-1]
    assert (last["rollout"], last["event"]) == (rollout_id, "abort")
    assert last.get("reason", "").startswith(f"{KILLED}; ")
    assert "reverted" not in last
    assert "moved back" not in line
    count = len(history.read("fraud"))
    assert asyncio.run(end_interrupted(history, store)) == []
    assert len(history.read("fraud")) == count


class CandidateStartsForever:
    """The running spec, v1 serving ``serving``; a change adding the candidate never ends (its
    model loads until the process is killed: the OOM killer, often, the candidate's doing)."""

    def __init__(self, spec: Spec, serving: str) -> None:
        self.spec: Spec | None = spec
        self.serving = serving
        self.changing = asyncio.Event()

    async def change(self, edit: Callable[[Spec], Spec]) -> Applied:
        self.changing.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    def pinned(self, deployment: str, version: str) -> str | None:
        return self.serving if (deployment, version) == ("fraud", "v1") else None


def test_a_kill_while_the_candidate_starts_moves_the_alias_back(tmp_path: Path) -> None:
    """Killed before the rollout's ``start`` (its candidate still loading), the alias was left
    on the candidate, which the restart then served to everyone."""
    store = fraud_store(tmp_path / "home")
    v1 = store.resolve("fraud:v1").digest
    store.tag("fraud:v1", "fraud:production")
    fake = CandidateStartsForever(parse_spec(SPEC), f"fraud:production@{v1}")
    reading = GatewayMetrics().reading
    history = RolloutHistory(tmp_path)
    killed = RolloutController(cast(Reconciler, fake), store, reading, history)
    watcher = AliasWatcher(killed, cast(Reconciler, fake), store)
    store.tag("fraud:v2", "fraud:production")

    async def until_killed() -> None:
        checking = asyncio.ensure_future(watcher.check())
        await fake.changing.wait()  # the candidate's replicas start; then the process dies
        checking.cancel()

    asyncio.run(until_killed())
    assert history.read("fraud") == []

    (line,) = asyncio.run(end_interrupted(history, store))
    assert store.resolve("fraud:production").digest == v1
    assert line.startswith("fraud: inferd up was killed while the candidate of fraud:production")
    assert f"moved back to fraud@{v1[:19]}" in line
    assert asyncio.run(end_interrupted(history, store)) == []
