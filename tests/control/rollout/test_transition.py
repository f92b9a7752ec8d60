"""A version change as a rollout: what runs during it, after promotion and after rollback."""

from __future__ import annotations

from pathlib import Path

import yaml

from inferd.control.rollout.history import DecisionRecord, Event, RolloutHistory
from inferd.control.rollout.transition import alias_move, next_name, version_change
from inferd.spec.model import DeploymentSpec

POLICY = {"strategy": "canary", "steps": [10, 100], "interval": "1s"}


def deployment(versions: dict[str, str], weights: dict[str, int] | None = None) -> DeploymentSpec:
    doc = {
        "name": "fraud",
        "versions": [{"name": n, "model": m} for n, m in versions.items()],
        "rollout": POLICY,
    }
    if weights:
        doc["traffic"] = {"weights": weights}
    return DeploymentSpec.model_validate(yaml.safe_load(yaml.safe_dump(doc)))


def test_same_version_new_model_runs_the_candidate_beside_it() -> None:
    old = deployment({"v1": "fraud:v1"})
    new = deployment({"v1": "fraud:v2"})
    t = version_change(old, new)
    assert t is not None
    assert (t.stable, t.candidate) == ("v1", "v1-next")
    assert {v.name: v.model for v in t.during.versions} == {"v1": "fraud:v1", "v1-next": "fraud:v2"}
    assert t.during.weights() == {"v1": 100, "v1-next": 0}
    assert t.success == new and t.failure == old


def test_new_version_name_takes_over_the_main_versions_traffic() -> None:
    old = deployment({"v1": "fraud:v1"})
    new = deployment({"v2": "fraud:v2"})
    t = version_change(old, new)
    assert t is not None and (t.stable, t.candidate) == ("v1", "v2")
    assert t.during.weights() == {"v2": 0, "v1": 100}


def test_no_rollout_when_the_model_is_unchanged_or_weights_only_move() -> None:
    old = deployment({"v1": "fraud:v1", "v2": "fraud:v2"}, {"v1": 90, "v2": 10})
    assert version_change(old, old) is None
    moved = deployment({"v1": "fraud:v1", "v2": "fraud:v2"}, {"v1": 10, "v2": 90})
    assert version_change(old, moved) is None


def test_alias_move_pins_the_new_digest() -> None:
    current = deployment({"v1": "fraud:production"})
    pinned = "fraud:production@sha256:" + "a" * 64
    t = alias_move(current, pinned, "fraud:production")
    assert {v.name: v.model for v in t.during.versions} == {
        "v1": "fraud:production", "v1-next": pinned
    }  # fmt: skip
    assert [v.model for v in t.success.versions] == [pinned]
    assert t.failure == current and t.cause == "alias fraud:production moved"


def test_next_name_stays_a_dns_label() -> None:
    assert next_name("v1", {"v1"}) == "v1-next"
    long = "a" * 63
    assert len(next_name(long, {long})) == 63 and next_name(long, {long}).endswith("-next")
    taken = {long, next_name(long, {long})}
    assert len(next_name(long, taken)) == 63 and next_name(long, taken).endswith("-next-2")


def test_the_candidate_never_takes_a_users_version_name() -> None:
    """A user's ``v1-next`` keeps its model; the candidate runs under a name no version has."""
    old = deployment({"v1": "fraud:v1", "v1-next": "fraud:v2"}, {"v1": 100})
    new = deployment({"v1": "fraud:drifty", "v1-next": "fraud:v2"}, {"v1": 100})
    t = version_change(old, new)
    assert t is not None and (t.stable, t.candidate) == ("v1", "v1-next-2")
    assert {v.name: v.model for v in t.during.versions} == {
        "v1": "fraud:v1", "v1-next": "fraud:v2", "v1-next-2": "fraud:drifty"
    }  # fmt: skip
    assert t.during.weights() == {"v1": 100, "v1-next": 0, "v1-next-2": 0}
    pinned = "fraud:production@sha256:" + "a" * 64
    current = deployment({"v1": "fraud:production", "v1-next": "fraud:v2"}, {"v1": 100})
    moved = alias_move(current, pinned, "fraud:production")
    assert moved.candidate == "v1-next-2"
    assert {v.name: v.model for v in moved.during.versions}["v1-next"] == "fraud:v2"


def _record(deployment: str, event: Event) -> DecisionRecord:
    return {
        "time": 0.0, "deployment": deployment, "rollout": "r-1", "event": event,
        "strategy": "canary", "stable": "v1", "candidate": "v2", "stage": 1,
        "candidate_weight": 10,
    }  # fmt: skip


def test_history_is_per_deployment_under_a_hashed_name(tmp_path: Path) -> None:
    home = tmp_path
    history = RolloutHistory(home)
    history.append(_record("../../etc", "start"))
    history.append(_record("fraud", "start"))
    history.append(_record("fraud", "promote"))
    assert [r["event"] for r in history.read("fraud")] == ["start", "promote"]
    assert [r["event"] for r in history.read("fraud", limit=1)] == ["promote"]
    assert all(p.parent == home / "rollouts" for p in (home / "rollouts").iterdir())
    with history.path("fraud").open("ab") as torn:
        torn.write(b'{"deployment": "fraud", "ev')
    assert len(history.read("fraud")) == 2
