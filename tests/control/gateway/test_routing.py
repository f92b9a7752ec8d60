"""Routing decisions as tables: version choice, weighted split, sticky hash, replica choice."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter

import pytest

from inferd.control.gateway.routing import (
    choose_version,
    is_ready,
    metadata_version,
    pick_replica,
    sticky_point,
    weighted_pick,
)
from inferd.control.replicas.topology import (
    DeploymentRoute,
    HeaderMatch,
    Replica,
    ReplicaState,
    VersionRoute,
)
from inferd.errors import ModelNotFound, Unavailable


def rep(rid: str, state: ReplicaState = "ready") -> Replica:
    return Replica(rid, "fraud", rid.split("-", maxsplit=1)[0], "127.0.0.1", 1, state)


def ver(name: str, weight: float, *states: ReplicaState) -> VersionRoute:
    replicas = tuple(rep(f"{name}-{i}", s) for i, s in enumerate(states or ("ready",)))
    return VersionRoute(name, "fraud", f"fraud:{name}", weight, replicas)


ROUTE = DeploymentRoute(
    "fraud",
    (ver("v1", 90), ver("v2", 10), ver("v3", 0), ver("shadow", 0)),
    shadow="shadow",
    sticky_header="X-User",
    header_routes=(HeaderMatch("X-Variant", "b", "v3"),),
)


@pytest.mark.parametrize(
    ("headers", "draw", "requested", "expected"),
    [
        ({}, 0.0, None, "v1"),
        ({}, 0.8999, None, "v1"),
        ({}, 0.9, None, "v2"),
        ({}, 0.9999, None, "v2"),
        # A named version wins over everything, even weight 0.
        ({"x-variant": "b"}, 0.95, "v1", "v1"),
        ({}, 0.0, "v3", "v3"),
        # Header match (A/B) before sticky and weights; header names are case-insensitive.
        ({"x-variant": "b"}, 0.0, None, "v3"),
        ({"x-variant": "a"}, 0.0, None, "v1"),
        # Sticky: the header's hash replaces the draw.
        ({"x-user": "alice"}, 0.99, None, "v1" if sticky_point("alice") < 0.9 else "v2"),
        ({"x-user": "bob"}, 0.0, None, "v1" if sticky_point("bob") < 0.9 else "v2"),
    ],
)
def test_choose_version(
    headers: dict[str, str], draw: float, requested: str | None, expected: str
) -> None:
    assert choose_version(ROUTE, headers, draw, requested).name == expected


def test_unknown_or_shadow_version_is_not_found() -> None:
    with pytest.raises(ModelNotFound, match="'fraud' version 'v9' not found"):
        choose_version(ROUTE, {}, 0.5, "v9")
    with pytest.raises(ModelNotFound):
        choose_version(ROUTE, {}, 0.5, "shadow")


def test_versions_without_ready_replicas_give_their_share_away() -> None:
    route = DeploymentRoute("fraud", (ver("v1", 90), ver("v2", 10, "starting", "failed")))
    assert {choose_version(route, {}, d / 100).name for d in range(100)} == {"v1"}
    # A header match to a version that cannot serve falls back to the split.
    ab = DeploymentRoute(
        "fraud", route.versions, header_routes=(HeaderMatch("x-variant", "b", "v2"),)
    )
    assert choose_version(ab, {"x-variant": "b"}, 0.99).name == "v1"


def test_no_ready_replica_is_unavailable() -> None:
    route = DeploymentRoute("fraud", (ver("v1", 100, "draining"),))
    with pytest.raises(Unavailable, match="no ready replica"):
        choose_version(route, {}, 0.5)


def asleep(name: str, weight: float) -> VersionRoute:
    """A version scaled to zero: no replica at all."""
    return VersionRoute(name, "fraud", f"fraud:{name}", weight)


def test_a_version_scaled_to_zero_keeps_its_share_when_the_deployment_scales_from_zero() -> None:
    """A stable version at zero beside a 20% canary: every request went to the canary, since
    only versions with a ready replica took part. From zero, the stable version is chosen by
    its weight (the gateway then holds the request while it starts)."""
    route = DeploymentRoute(
        "fraud",
        (asleep("a1", 80), ver("a1-next", 20), ver("restarting", 0, "failed"), asleep("old", 0)),
        sticky_header="x-user",
        header_routes=(HeaderMatch("x-variant", "stable", "a1"),),
    )
    picks = Counter(choose_version(route, {}, d / 100, from_zero=True).name for d in range(100))
    assert picks == {"a1": 80, "a1-next": 20}
    assert {choose_version(route, {}, d / 100).name for d in range(100)} == {"a1-next"}
    assert choose_version(route, {"x-variant": "stable"}, 0.99, from_zero=True).name == "a1"
    assert choose_version(route, {"x-variant": "stable"}, 0.99).name == "a1-next"
    # A sticky user lands where it will land once the version is awake.
    awake = DeploymentRoute("fraud", (ver("a1", 80), *route.versions[1:]), sticky_header="x-user")
    for user in ("alice", "bob", "carol", "dave", "erin"):
        headers = {"x-user": user}
        assert (
            choose_version(route, headers, 0.0, from_zero=True).name
            == choose_version(awake, headers, 0.0).name
        )
    assert route.primaries_from_zero == (route.versions[0], route.versions[1])
    assert [v.scaled_to_zero for v in route.versions] == [True, False, False, False]


def test_sticky_is_stable_and_spreads() -> None:
    assert sticky_point("user-42") == sticky_point("user-42")
    points = [sticky_point(f"user-{i}") for i in range(10_000)]
    assert all(0 <= p < 1 for p in points)
    share = sum(p >= 0.9 for p in points) / len(points)
    assert 0.085 <= share <= 0.115


@pytest.mark.parametrize(
    ("weights", "draw", "expected"),
    [
        ((50, 50), 0.49, 0),
        ((50, 50), 0.5, 1),
        ((1, 3), 0.25, 1),  # weights need not add up to 100
        ((0, 5), 0.0, 1),  # weight 0 is never picked
        ((5, 0), 0.9999999, 0),
        ((0, 0), 0.5, None),
    ],
)
def test_weighted_pick(weights: tuple[float, ...], draw: float, expected: int | None) -> None:
    versions = tuple(ver(f"v{i}", w) for i, w in enumerate(weights))
    picked = weighted_pick(versions, draw)
    assert (picked.name if picked else None) == (None if expected is None else f"v{expected}")


def test_split_accuracy_over_10000_draws() -> None:
    rng = random.Random(7)
    counts = Counter(choose_version(ROUTE, {}, rng.random()).name for _ in range(10_000))
    assert 0.085 <= counts["v2"] / 10_000 <= 0.115
    assert set(counts) == {"v1", "v2"}


@pytest.mark.parametrize(
    ("outstanding", "avoid", "draw", "expected"),
    [
        ({}, set(), 0.0, "r-0"),
        ({}, set(), 0.99, "r-2"),
        ({"r-0": 3, "r-1": 1, "r-2": 2}, set(), 0.99, "r-1"),
        ({"r-0": 3, "r-1": 1, "r-2": 1}, set(), 0.99, "r-2"),
        ({"r-1": 0}, {"r-0", "r-1"}, 0.0, "r-2"),
        # Everything avoided: better a suspect replica than none.
        ({"r-0": 5}, {"r-0", "r-1", "r-2"}, 0.0, "r-1"),
    ],
)
def test_pick_replica_least_outstanding(
    outstanding: dict[str, int], avoid: set[str], draw: float, expected: str
) -> None:
    replicas = tuple(rep(f"r-{i}") for i in range(3))
    picked = pick_replica(replicas, outstanding, draw, avoid)
    assert picked is not None and picked.id == expected
    assert pick_replica((), {}, 0.5) is None


def test_readiness_and_metadata_version() -> None:
    assert is_ready({"fraud": ROUTE})
    assert not is_ready({})  # nothing to serve yet: `inferd up` still starting
    only_shadow_ready = DeploymentRoute(
        "fraud", (ver("v1", 100, "starting"), ver("s", 0)), shadow="s"
    )
    assert not is_ready({"fraud": ROUTE, "other": only_shadow_ready})
    assert metadata_version(ROUTE).name == "v1"  # type: ignore[union-attr]
    assert metadata_version(only_shadow_ready).name == "v1"  # type: ignore[union-attr]
    # A named version answers, ready or not (at zero, the gateway wakes it first).
    assert metadata_version(only_shadow_ready, "v1") is only_shadow_ready.versions[0]
    for unknown in ("v9", "s"):
        with pytest.raises(ModelNotFound):
            metadata_version(only_shadow_ready, unknown)


def test_ready_replicas_and_primaries_follow_each_snapshot() -> None:
    """Worked out when a snapshot is built, so a replaced snapshot (as the supervisor makes
    with dataclasses.replace) carries its own, never the previous one's."""
    starting = ver("v2", 50, "starting", "ready")
    route = DeploymentRoute("fraud", (ver("v1", 50, "failed"), starting, ver("s", 0)), shadow="s")
    assert [r.id for r in starting.ready_replicas] == ["v2-1"]
    assert [v.name for v in route.primaries] == ["v2"]  # v1 has none ready; s is the shadow
    recovered = dataclasses.replace(route, versions=(ver("v1", 50), starting, ver("s", 0)))
    assert [v.name for v in recovered.primaries] == ["v1", "v2"]
    gone = dataclasses.replace(starting, replicas=(rep("v2-0", "draining"),))
    assert gone.ready_replicas == ()
    assert recovered == dataclasses.replace(recovered)  # derived fields do not take part


def test_a_weighted_shadow_takes_its_share_and_a_dedicated_one_none() -> None:
    """docs/spec.md allows the shadow to be another weighted version (k8s render gives it its
    weight and a mirror); under inferd up its share went to the others. A dedicated shadow at
    weight 0 still takes no primary traffic, nor counts for readiness."""
    weighted = DeploymentRoute("fraud", (ver("v1", 70), ver("v2", 30)), shadow="v2")
    chosen = Counter(choose_version(weighted, {}, i / 1000).name for i in range(1000))
    assert chosen == {"v1": 700, "v2": 300}
    dedicated = DeploymentRoute("fraud", (ver("v1", 100, "starting"), ver("s", 0)), shadow="s")
    assert [v.name for v in dedicated.primaries] == []
    assert not is_ready({"fraud": dedicated})
