"""Strategies as tables: each stage's routing, and where a verdict moves a rollout."""

from __future__ import annotations

import pytest

from inferd.control.rollout.strategies import (
    Pair,
    Routing,
    move,
    promoted,
    rolled_back,
    stage_routing,
    stages,
)

PAIR = Pair("v1", "v2", {"v1": 100, "v2": 0})
#: A deployment where a third version keeps 20% whatever the rollout does.
SHARED = Pair("v1", "v2", {"v1": 80, "v2": 0, "v3": 20}, shadow="v3-shadow")


@pytest.mark.parametrize(
    ("pair", "stage", "weights"),
    [
        (PAIR, 0, {"v1": 95, "v2": 5}),
        (PAIR, 1, {"v1": 75, "v2": 25}),
        (PAIR, 3, {"v1": 0, "v2": 100}),
        (SHARED, 0, {"v1": 76, "v2": 4, "v3": 20}),
        (SHARED, 3, {"v1": 0, "v2": 80, "v3": 20}),
    ],
)
def test_canary_stages_keep_other_versions(pair: Pair, stage: int, weights: dict[str, int]) -> None:
    routing = stage_routing("canary", (5, 25, 50, 100), pair, stage)
    assert routing.weights == weights
    assert sum(routing.weights.values()) == 100
    assert routing.shadow == pair.shadow


def test_blue_green_mirrors_everything_to_the_candidate() -> None:
    routing = stage_routing("blue-green", (), PAIR, 0)
    assert routing == Routing({"v1": 100, "v2": 0}, "v2")
    assert promoted(PAIR) == Routing({"v1": 0, "v2": 100}, None)
    assert rolled_back(Pair("v1", "v2", {"v1": 100, "v2": 0}, shadow="v2")).shadow is None


def test_ab_holds_the_declared_split() -> None:
    pair = Pair("a", "b", {"a": 50, "b": 50})
    assert stage_routing("ab", (), pair, 0) == Routing({"a": 50, "b": 50}, None)


@pytest.mark.parametrize(
    ("strategy", "stage", "total", "action", "where"),
    [
        ("canary", 0, 4, "promote", "advance"),
        ("canary", 3, 4, "promote", "promote"),
        ("canary", 1, 4, "hold", "hold"),
        ("canary", 1, 4, "rollback", "rollback"),
        ("blue-green", 0, 1, "promote", "promote"),
        ("blue-green", 0, 1, "rollback", "rollback"),
        ("ab", 0, 1, "promote", "hold"),
        ("ab", 0, 1, "hold", "hold"),
        ("ab", 0, 1, "rollback", "pause"),
    ],
)
def test_moves(strategy: str, stage: int, total: int, action: str, where: str) -> None:
    assert move(strategy, stage, total, action) == where  # type: ignore[arg-type]


def test_stage_counts() -> None:
    assert stages("canary", (10, 50, 100)) == 3
    assert stages("blue-green", ()) == stages("ab", ()) == 1
