"""The rollout controller's loop against the gateway's real metrics, fed by the test: no
replicas, no store (the reconciler only holds the running spec, and nothing is pinned)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest

from inferd.cli.rollout_cmds import _line
from inferd.control.apply_plan import Applied
from inferd.control.gateway.metrics import GatewayMetrics
from inferd.control.reconciler import Reconciler
from inferd.control.rollout.controller import RolloutController
from inferd.control.rollout.history import RolloutHistory
from inferd.control.rollout.state import FINISHED, RolloutStatus, policy_of
from inferd.errors import AlreadyExists, InferdError, InvalidArgument, NotFound
from inferd.spec.loading import parse_spec
from inferd.spec.model import Spec
from inferd.store import ModelStore


def spec(policy: str, traffic: str = "{weights: {v1: 100}}") -> Spec:
    """``fraud`` with v1 taking all ``traffic``, v2 beside it, and ``policy`` as its rollout."""
    return parse_spec(f"""apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: fraud
    versions:
      - {{name: v1, model: "fraud:v1"}}
      - {{name: v2, model: "fraud:v2"}}
    traffic: {traffic}
    rollout: {policy}
""")


class SpecOnly:
    """What the controller reads and edits of a :class:`Reconciler`: the running spec."""

    def __init__(self, spec: Spec) -> None:
        self.spec: Spec | None = spec

    async def apply(self, spec: Spec) -> Applied:
        self.spec = spec
        return Applied([], [])

    async def change(self, edit: Callable[[Spec], Spec]) -> Applied:
        assert self.spec is not None
        return await self.apply(edit(self.spec))

    def pinned(self, deployment: str, version: str) -> str | None:
        return None  # nothing runs: no tag to watch or move


def controller(
    tmp_path: Path, policy: str, metrics: GatewayMetrics, traffic: str = "{weights: {v1: 100}}"
) -> RolloutController:
    reconciler = cast(Reconciler, SpecOnly(spec(policy, traffic)))
    history = RolloutHistory(tmp_path)
    return RolloutController(reconciler, cast(ModelStore, None), metrics.reading, history)


async def finished(rollouts: RolloutController, timeout: float = 5.0) -> str:
    """The phase the fraud rollout ends in."""
    async with asyncio.timeout(timeout):
        while (phase := rollouts.status("fraud")[0]["phase"]) not in FINISHED:
            await asyncio.sleep(0.005)
    return phase


def test_a_candidate_that_never_answers_is_rolled_back_at_the_progress_deadline(
    tmp_path: Path,
) -> None:
    """No request ever completes on the candidate: each analysis fails after the deadline."""
    rollouts = controller(
        tmp_path,
        "{steps: [50, 100], interval: 10ms, failure_limit: 2, analysis: {min_requests: 10}}",
        GatewayMetrics(),
    )

    async def scenario() -> str:
        await rollouts.start("fraud")
        try:
            return await finished(rollouts)
        finally:
            await rollouts.stop()

    assert asyncio.run(scenario()) == "rolled_back"
    decisions = rollouts.history.read("fraud")
    late = [d for d in decisions
            if "verdict" in d and "progress_deadline" in d["verdict"]["reasons"][0]]  # fmt: skip
    assert [(d["event"], d["observations"]["span_s"]) for d in late] == [
        ("hold", pytest.approx(0.1)), ("rollback", pytest.approx(0.1))
    ]  # fmt: skip
    assert len(decisions) == 1 + 20  # start, then one decision per interval


def test_a_second_start_names_the_rollout_running(tmp_path: Path) -> None:
    """Blue-green mirrors to the candidate, which then looks like no candidate at all."""
    rollouts = controller(tmp_path, "{strategy: blue-green, interval: 1m}", GatewayMetrics())

    async def scenario() -> None:
        first = await rollouts.start("fraud")
        try:
            with pytest.raises(AlreadyExists, match=f"already has rollout {first['id']} running"):
                await rollouts.start("fraud")
            assert rollouts.status("fraud")[0]["phase"] == "running"
        finally:
            await rollouts.stop()

    asyncio.run(scenario())


def test_history_of_no_deployment_is_not_found(tmp_path: Path) -> None:
    rollouts = controller(tmp_path, "{strategy: blue-green}", GatewayMetrics())
    with pytest.raises(NotFound, match="deployment 'nope' not found"):
        rollouts.decisions("nope")
    assert rollouts.decisions("fraud") == []  # a deployment that never rolled out


def test_an_ab_rollout_at_its_failure_limit_pauses_for_a_person(tmp_path: Path) -> None:
    """Never rolled back automatically: it says so by pausing, and counts no further."""
    metrics = GatewayMetrics()
    rollouts = controller(
        tmp_path,
        "{strategy: ab, interval: 10ms, failure_limit: 1, analysis: {min_requests: 10}}",
        metrics,
        "{weights: {v1: 50, v2: 50}, header_routes: [{header: x-group, value: b, version: v2}]}",
    )

    async def scenario() -> RolloutStatus:
        await rollouts.start("fraud")
        try:
            async with asyncio.timeout(5):
                while rollouts.status("fraud")[0]["phase"] == "running":
                    metrics.request("fraud", "v2", 500, 0.001)
                    await asyncio.sleep(0.002)
            await asyncio.sleep(0.1)  # ten intervals: a paused rollout decides nothing
            return rollouts.status("fraud")[0]
        finally:
            await rollouts.stop()  # aborts it, as inferd up's shutdown does

    status = asyncio.run(scenario())
    assert (status["phase"], status["failures"], status["failure_limit"]) == ("paused", 1, 1)
    last = status["decisions"][-1]
    assert last["event"] == "pause" and "promote, abort or resume" in last["reason"]
    assert last["verdict"]["reasons"][-1] == (  # type: ignore[typeddict-item]
        "1 consecutive failed analyses reached failure_limit 1"
    )


def test_the_progress_deadline_is_the_specs_or_ten_intervals() -> None:
    def deadline(policy: str) -> float | None:
        rollout = spec(policy).deployments[0].rollout
        assert rollout is not None
        return policy_of(rollout).progress_deadline_s

    assert deadline("{steps: [100], interval: 30s}") == 300
    assert deadline("{steps: [100], interval: 30s, progress_deadline: 1h}") == 3600


def test_an_apply_that_starts_a_rollout_says_so(tmp_path: Path) -> None:
    """``inferd apply`` printed the candidate's replicas being added and the old traffic, and
    never that a rollout had started and now routed the deployment's traffic."""
    rollouts = controller(tmp_path, "{steps: [20, 50, 100], interval: 1h}", GatewayMetrics())
    new_model = parse_spec(
        """apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: fraud
    versions:
      - {name: v1, model: "fraud:v3"}
      - {name: v2, model: "fraud:v2"}
    traffic: {weights: {v1: 100}}
    rollout: {steps: [20, 50, 100], interval: 1h}
"""
    )

    async def scenario() -> Applied:
        applied = await rollouts.apply(new_model)
        await rollouts.stop()
        return applied

    (line,) = asyncio.run(scenario()).rollouts
    running = rollouts.status("fraud")[0]
    assert line == (
        f"fraud: rollout {running['id']} started, canary of 'v1-next' (fraud:v3) over 'v1', "
        "steps 20%, 50%, 100%; it routes the deployment's traffic from now on "
        "(inferd rollout status fraud)"
    )


def test_mirrored_copies_refused_where_the_stable_answered_are_in_the_history(
    tmp_path: Path,
) -> None:
    """The gateway counts copies the candidate refused as the client's fault where the stable
    answered (outcome ``refused``); the history recorded them only inside ``client_errors``."""
    metrics = GatewayMetrics()
    rollouts = controller(
        tmp_path,
        "{strategy: blue-green, interval: 10ms, failure_limit: 1, analysis: {min_requests: 10}}",
        metrics,
    )

    async def scenario() -> str:
        await rollouts.start("fraud")
        try:
            async with asyncio.timeout(5):
                for n in itertools.count():
                    if rollouts.status("fraud")[0]["phase"] != "running":
                        break
                    metrics.request("fraud", "v1", 200, 0.001)
                    outcome = ("refused", "client_error", "compared", "compared")[n % 4]
                    metrics.shadow("fraud", "v1", "v2", outcome)
                    await asyncio.sleep(0.001)
            return rollouts.status("fraud")[0]["phase"]
        finally:
            await rollouts.stop()

    assert asyncio.run(scenario()) == "rolled_back"
    last = rollouts.history.read("fraud")[-1]
    assert "observations" in last
    candidate, stable = last["observations"]["candidate"], last["observations"]["stable"]
    assert 0 < candidate["refused"] < candidate["client_errors"]  # type: ignore[operator]
    assert stable["refused"] is None  # traffic the stable served itself, never mirrored
    assert f"{candidate['refused']} refused" in _line(last)


def test_an_apply_over_a_promotion_by_hand_names_what_it_undoes(tmp_path: Path) -> None:
    """``inferd rollout start`` and ``promote`` move the traffic in the running spec only: the
    next apply of the user's file gave it back to v1 without a word. It still does (an apply
    is declarative), and says so once; a file that agrees with the promotion says nothing."""
    policy = "{steps: [50, 100], interval: 1h}"
    rollouts = controller(tmp_path, policy, GatewayMetrics())
    reconciler = cast(SpecOnly, rollouts.reconciler)

    async def promoted_by_hand() -> str:
        await rollouts.start("fraud")
        return (await rollouts.promote("fraud"))["id"]

    async def scenario() -> tuple[str, list[Applied]]:
        first = await promoted_by_hand()
        assert reconciler.spec is not None and reconciler.spec.deployments[0].weights() == {
            "v1": 0, "v2": 100
        }  # fmt: skip
        file, agreeing = spec(policy), spec(policy, "{weights: {v2: 100}}")
        applied = [await rollouts.apply(file), await rollouts.apply(file)]  # undone once
        await promoted_by_hand()
        applied.append(await rollouts.apply(agreeing))
        applied.append(await rollouts.apply(file))  # the file changed: its author's choice
        await rollouts.stop()
        return first, applied

    first, applied = asyncio.run(scenario())
    (undone,) = applied[0].undone
    assert undone.to_json() == {
        "deployment": "fraud", "rollout": first, "promoted": "v2", "restored": "v1",
        "weights": {"v1": 100, "v2": 0},
    }  # fmt: skip
    assert undone.describe() == (
        f"fraud: this apply undoes the promotion of 'v2' by rollout {first}: the file gives the "
        "traffic back to 'v1' (v1 100%); to keep 'v2', give it the traffic in the file and "
        "apply again"
    )
    assert [a.undone for a in applied[1:]] == [[], [], []]
    assert reconciler.spec is not None and reconciler.spec.deployments[0].weights() == {
        "v1": 100, "v2": 0
    }  # fmt: skip


def test_a_start_naming_no_candidate_says_which_versions_are(tmp_path: Path) -> None:
    """``--candidate`` naming a version the deployment lacks, or its stable one, answered
    "'nope' is not a candidate version of 'fraud'" (exit 2) for both: now a missing version is
    not found (exit 3) and each names the versions that can be rolled out."""
    rollouts = controller(tmp_path, "{steps: [50, 100], interval: 1h}", GatewayMetrics())

    async def refused(candidate: str) -> InferdError:
        with pytest.raises(InferdError) as caught:
            await rollouts.start("fraud", candidate)
        return caught.value

    missing = asyncio.run(refused("nope"))
    assert isinstance(missing, NotFound)
    assert missing.message == "deployment 'fraud' has no version 'nope' (candidates: v2)"
    stable = asyncio.run(refused("v1"))
    assert isinstance(stable, InvalidArgument)
    assert stable.message == (
        "'v1' is the stable version of 'fraud' (it has the most traffic); name the candidate "
        "to roll out against it (candidates: v2)"
    )


def test_the_shadow_is_no_candidate(tmp_path: Path) -> None:
    """``--candidate`` naming the deployment's shadow started a rollout that took the mirror
    away for its run and, once aborted or rolled back, for good: the shadow gets copies, not
    traffic, and a rollout moves traffic. It is refused, naming what to do, and nothing moves."""
    traffic = "{weights: {v1: 100}, shadow: v2}"
    rollouts = controller(tmp_path, "{steps: [50, 100], interval: 1h}", GatewayMetrics(), traffic)

    async def refused() -> InferdError:
        with pytest.raises(InferdError) as caught:
            await rollouts.start("fraud", "v2")
        return caught.value

    shadow = asyncio.run(refused())
    assert isinstance(shadow, InvalidArgument)
    assert shadow.message == (
        "'v2' is the shadow of 'fraud' (it gets mirrored copies of requests, no traffic): a "
        "rollout moves traffic from the stable version to another weighted version "
        "(candidates: none); to roll it out, make it no longer the shadow (traffic.shadow) and "
        "inferd apply"
    )
    reconciler = cast(SpecOnly, rollouts.reconciler)
    assert reconciler.spec is not None and reconciler.spec.deployments[0].traffic.shadow == "v2"
    assert rollouts.history.read("fraud") == []


def test_an_apply_that_removes_a_deployment_in_rollout_is_refused(tmp_path: Path) -> None:
    """An apply without the deployment went through: the rollout ran on as "running" over a
    deployment that was gone, its abort answered "deployment 'fraud' not found", and it would
    have moved the traffic of a deployment added again under the name. Removing it is a change
    like any other: refused until the rollout is promoted or aborted."""
    rollouts = controller(tmp_path, "{steps: [50, 100], interval: 1h}", GatewayMetrics())
    other = parse_spec("""apiVersion: inferd.dev/v1
kind: Stack
deployments:
  - name: other
    versions:
      - {name: v1, model: "fraud:v1"}
""")

    async def scenario() -> None:
        started = await rollouts.start("fraud")
        try:
            with pytest.raises(AlreadyExists) as refused:
                await rollouts.apply(other)
            assert refused.value.message == (
                f"deployment 'fraud' is in rollout {started['id']}; promote or abort it "
                "before removing the deployment"
            )
            assert rollouts.reconciler.spec is not None
            assert [d.name for d in rollouts.reconciler.spec.deployments] == ["fraud"]
            await rollouts.abort("fraud")
            await rollouts.apply(other)  # once it is over, the deployment may go
        finally:
            await rollouts.stop()
        assert rollouts.reconciler.spec is not None
        assert [d.name for d in rollouts.reconciler.spec.deployments] == ["other"]

    asyncio.run(scenario())
