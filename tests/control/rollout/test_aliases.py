"""The tags a rollout moves: recorded as it begins, moved only by compare-and-set, and a
person's move wins (issue 12 items 2 and 3, without processes: a real store, no replicas)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from inferd.control.rollout.aliases import Reverted, RolloutTags, TagMoved
from inferd.control.rollout.analysis import AnalysisPolicy
from inferd.control.rollout.state import Rollout
from inferd.control.rollout.strategies import Pair
from inferd.control.rollout.transition import alias_move
from inferd.store import ModelStore

from ..conftest import fraud_store
from .test_transition import deployment


def rollout(*, alias: str | None = None, candidate: str = "") -> Rollout:
    current = deployment({"v1": "fraud:production"})
    transition = alias_move(current, candidate, alias) if alias is not None else None
    return Rollout(
        id="r-test",
        deployment="fraud",
        strategy="canary",
        steps=(50, 100),
        pair=Pair("v1", "v1-next" if alias else "v2", {"v1": 100}),
        policy=AnalysisPolicy(),
        interval_s=1.0,
        base=current,
        transition=transition,
    )


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    return fraud_store(tmp_path / "home")


def digests(store: ModelStore) -> tuple[str, str]:
    return store.resolve("fraud:v1").digest, store.resolve("fraud:v2").digest


def test_promotion_tags_production_unless_someone_moved_it(store: ModelStore) -> None:
    v1, v2 = digests(store)
    store.tag("fraud:v1", "fraud:production")
    tags, r = RolloutTags(store), rollout()
    candidate = f"fraud:v2@{v2}"

    async def scenario() -> None:
        await tags.watch(r, candidate)
        assert r.tags == {"fraud:production": v1}
        assert await tags.moved(r) is None
        assert await tags.promote(r, candidate) == "fraud:production"
        assert await tags.promote(r, candidate) is None  # there already

    asyncio.run(scenario())
    assert store.resolve("fraud:production").digest == v2
    (last,) = [e for e in store.history("fraud") if e.tag == "production"][-1:]
    assert (last.old, last.new, last.detail) == (v1, v2, "rollout r-test of fraud promoted v2")


def test_a_person_moving_production_meanwhile_wins(store: ModelStore) -> None:
    v1, v2 = digests(store)
    store.tag("fraud:v1", "fraud:production")
    tags, r = RolloutTags(store), rollout()
    candidate = f"fraud:v2@{v2}"

    async def scenario() -> None:
        await tags.watch(r, candidate)
        store.tag("fraud:v2", "fraud:production")  # by hand, while the rollout runs
        store.tag("fraud:v1", "fraud:production")  # and back: still a move since it began?
        assert await tags.moved(r) is None  # no: it names what it named then
        store.tag("fraud:v2", "fraud:production")
        reason = await tags.moved(r)
        assert reason is not None and "fraud:production was moved to sha256:" in reason
        with pytest.raises(TagMoved, match="the move stands"):
            await tags.promote(r, f"fraud:v1@{v1}")

    asyncio.run(scenario())
    assert store.resolve("fraud:production").digest == v2  # the person's move stands


def test_the_rollback_of_an_alias_move_moves_the_alias_back(store: ModelStore) -> None:
    v1, v2 = digests(store)
    store.tag("fraud:v2", "fraud:production")  # the move that starts the rollout
    tags = RolloutTags(store)
    r = rollout(alias="fraud:production", candidate=f"fraud:production@{v2}")

    async def scenario() -> None:
        await tags.watch(r, f"fraud:production@{v2}")
        assert r.tags == {"fraud:production": v2}
        moved = await tags.revert(r, f"fraud:production@{v1}")
        assert moved == Reverted("fraud:production", f"fraud@{v1}")  # the model, not a version

    asyncio.run(scenario())
    assert store.resolve("fraud:production").digest == v1
    last = [e for e in store.history("fraud") if e.tag == "production"][-1]
    assert (last.old, last.new) == (v2, v1)
    assert last.detail == "rollout r-test of fraud rejected the version it named"


def test_an_alias_that_moved_on_is_not_moved_back(store: ModelStore) -> None:
    v1, v2 = digests(store)
    store.tag("fraud:v2", "fraud:production")
    tags = RolloutTags(store)
    r = rollout(alias="fraud:production", candidate=f"fraud:production@{v2}")

    async def scenario() -> None:
        await tags.watch(r, f"fraud:production@{v2}")
        store.tag("fraud:v1", "fraud:production")
        store.untag("fraud:production")  # gone: a person's doing too
        assert await tags.revert(r, f"fraud:production@{v1}") is None
        assert await tags.revert(rollout(), f"fraud:production@{v1}") is None  # not a move

    asyncio.run(scenario())
    assert [e.action for e in store.history("fraud") if e.tag == "production"][-1] == "rm"
