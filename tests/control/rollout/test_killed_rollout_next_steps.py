"""A rollout whose ``inferd up`` was killed is ended by the next one with an ``abort`` (it is not
resumed: a rollout lives in its process, and one started by an apply left no record of the
stable version's model to start again from). That abort said only that the process was killed:
not what the restart now serves — for an apply, the file's new model to everyone, unchecked —
nor how to roll out again. Its reason (in ``inferd rollout history``, and the log line of the
restart) now says both, by what started the rollout; ``inferd rollout status`` after the
restart names how the last rollout ended, and ``inferd rollout history`` while no ``inferd up``
runs says a rollout without an ending was cut short."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

from click.testing import CliRunner

from inferd.cli import main
from inferd.control.apply_plan import Applied
from inferd.control.gateway.metrics import GatewayMetrics
from inferd.control.reconciler import Reconciler
from inferd.control.rollout.controller import RolloutController
from inferd.control.rollout.history import RolloutHistory
from inferd.control.rollout.recovery import KILLED, end_interrupted
from inferd.control.rollout.watch import AliasWatcher
from inferd.errors import NotFound
from inferd.spec.loading import parse_spec
from inferd.spec.model import Spec
from inferd.store import ModelStore

from ..conftest import fraud_store
from .test_alias_start_failure import SPEC
from .test_stop_mid_rollout import TWO_VERSIONS, EveryVersionStarts

ONE_VERSION = """apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: fraud
    versions:
      - {name: v1, model: "fraud:v1"}
    rollout: {steps: [50, 100], interval: 1h}
"""


class Applies(EveryVersionStarts):
    async def apply(self, spec: Spec) -> Applied:
        return await self.change(lambda _: spec)


def controller(spec: str, store: ModelStore, home: Path) -> RolloutController:
    fake = Applies(parse_spec(spec), store)
    reading = GatewayMetrics().reading
    return RolloutController(cast(Reconciler, fake), store, reading, RolloutHistory(home))


def killed_and_restarted(home: Path, store: ModelStore) -> tuple[str, str]:
    """The abort's reason and the restart's log line."""
    history = RolloutHistory(home)
    (line,) = asyncio.run(end_interrupted(history, store))
    last = history.read("fraud")[-1]
    assert last["event"] == "abort"
    return last.get("reason", ""), line


def test_a_rollout_started_by_hand_says_how_to_start_it_again(tmp_path: Path) -> None:
    store = fraud_store(tmp_path / "home")
    killed = controller(TWO_VERSIONS, store, tmp_path)

    async def start() -> None:
        await killed.start("fraud")

    asyncio.run(start())
    reason, line = killed_and_restarted(tmp_path, store)
    what_now = (
        "the restart serves the spec file's weights; to roll v2 out again: inferd rollout "
        "start fraud --candidate v2"
    )
    assert reason == f"{KILLED}; {what_now}"
    assert line.endswith(what_now)


def test_a_rollout_started_by_an_apply_says_the_new_model_serves_unchecked(
    tmp_path: Path,
) -> None:
    store = fraud_store(tmp_path / "home")
    killed = controller(ONE_VERSION, store, tmp_path)

    async def apply() -> None:
        await killed.apply(parse_spec(ONE_VERSION.replace('"fraud:v1"', '"fraud:v2"')))
        while not RolloutHistory(tmp_path).read("fraud"):
            await asyncio.sleep(0.01)

    asyncio.run(apply())
    reason, _ = killed_and_restarted(tmp_path, store)
    assert reason == (
        f"{KILLED}; the restart serves the spec file as written: the applied model takes all "
        "of its version's traffic, with no analysis; to roll it out again, put the previous "
        "model back in the file, inferd apply it, then apply the new one"
    )


def test_an_alias_move_says_how_to_move_it_again(tmp_path: Path) -> None:
    store = fraud_store(tmp_path / "home")
    v2 = store.resolve("fraud:v2").digest
    store.tag("fraud:v1", "fraud:production")
    killed = controller(SPEC, store, tmp_path)
    watcher = AliasWatcher(killed, killed.reconciler, store)
    store.tag("fraud:v2", "fraud:production")

    async def moved() -> None:
        await watcher.check()
        while not RolloutHistory(tmp_path).read("fraud"):
            await asyncio.sleep(0.01)

    asyncio.run(moved())
    reason, _ = killed_and_restarted(tmp_path, store)
    assert reason == (
        f"{KILLED}; the restart serves the stable version; to roll the candidate out again, "
        f"move the alias to it again: inferd tag fraud@{v2} fraud:production"
    )


def test_status_after_the_restart_names_how_the_last_rollout_ended(tmp_path: Path) -> None:
    store = fraud_store(tmp_path / "home")
    killed = controller(TWO_VERSIONS, store, tmp_path)

    async def start() -> str:
        return (await killed.start("fraud"))["id"]

    rollout = asyncio.run(start())
    reason, _ = killed_and_restarted(tmp_path, store)
    restarted = controller(TWO_VERSIONS, store, tmp_path)
    try:
        restarted.status("fraud")
        raise AssertionError("a status")
    except NotFound as exc:
        assert exc.message == (
            f"deployment 'fraud' has no rollout since inferd up started; its last, {rollout}, "
            f"ended in abort: {reason} (inferd rollout history fraud)"
        )


def test_the_history_without_inferd_up_says_a_rollout_was_cut_short(
    tmp_path: Path, inferd_home: Path
) -> None:
    store = fraud_store(tmp_path / "store")
    killed = controller(TWO_VERSIONS, store, inferd_home)

    async def start() -> str:
        return (await killed.start("fraud"))["id"]

    rollout = asyncio.run(start())  # then the process dies: no inferd up runs
    result = CliRunner().invoke(main, ["rollout", "history", "fraud"])
    assert result.exit_code == 0, result.output
    assert f"{rollout} start step 1" in result.stdout
    assert result.stderr == (
        f"fraud: rollout {rollout} has no ending and no inferd up runs for this store: its "
        "inferd up was killed mid-rollout; the next inferd up records it as aborted\n"
    )
