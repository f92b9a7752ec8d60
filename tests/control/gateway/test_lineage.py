"""The lineage panel's document, from a real store's history of tag moves."""

from __future__ import annotations

from pathlib import Path

import orjson

from inferd.config import StoreSettings
from inferd.control.gateway.lineage import MAX_EVENTS_PER_MODEL, build_lineage
from inferd.control.replicas.topology import DeploymentRoute, Topology, VersionRoute
from inferd.packaging import push
from inferd.store import ModelStore

from .conftest import QUICKSTART


def serving(*versions: tuple[str, str]) -> Topology:
    routes = tuple(VersionRoute(name, "fraud", ref, 50) for name, ref in versions)
    return Topology({"fraud": DeploymentRoute("fraud", routes)}, 1)


def test_each_deployment_gets_the_tag_moves_of_the_names_it_serves(tmp_path: Path) -> None:
    store = ModelStore.from_settings(StoreSettings(home=tmp_path / "home"))
    v1 = push(store, QUICKSTART / "fraud-v1", "fraud:v1").digest
    v2 = push(store, QUICKSTART / "fraud-v2", "fraud:v2").digest
    store.tag("fraud:v1", "fraud:production")
    store.tag("fraud:v2", "fraud:production")
    topology = serving(("v1", f"fraud:v1@{v1}"), ("v2", f"fraud:production@{v2}"))

    doc = orjson.loads(orjson.dumps(build_lineage(topology, store.history)))

    assert doc["store"] is True
    (fraud,) = doc["deployments"]
    assert fraud["versions"] == [
        {"version": "v1", "reference": f"fraud:v1@{v1}", "digest": v1},
        {"version": "v2", "reference": f"fraud:production@{v2}", "digest": v2},
    ]
    (model,) = fraud["models"]
    assert model["name"] == "fraud" and model["more"] == 0
    moves = [(e["tag"], e["action"], e["old"], e["new"]) for e in model["events"]]
    assert moves == [  # newest first
        ("production", "tag", v1, v2),
        ("production", "tag", None, v1),
        ("v2", "push", None, v2),
        ("v1", "push", None, v1),
    ]
    assert all("@" in e["by"] and e["time"] for e in model["events"])


def test_long_histories_are_cut_to_the_newest_moves(tmp_path: Path) -> None:
    store = ModelStore.from_settings(StoreSettings(home=tmp_path / "home"))
    push(store, QUICKSTART / "fraud-v1", "fraud:v1")
    push(store, QUICKSTART / "fraud-v2", "fraud:v2")
    for i in range(MAX_EVENTS_PER_MODEL):
        store.tag("fraud:v1" if i % 2 else "fraud:v2", "fraud:production")
    doc = build_lineage(serving(("v1", "fraud:production")), store.history)
    (model,) = doc["deployments"][0]["models"]
    assert len(model["events"]) == MAX_EVENTS_PER_MODEL and model["more"] == 2
    assert model["events"][0]["new"] == store.resolve("fraud:v1").digest


def test_without_a_store_the_versions_only() -> None:
    doc = build_lineage(serving(("v1", "fraud:v1")), None)
    assert doc == {
        "store": False,
        "deployments": [
            {
                "name": "fraud",
                "versions": [{"version": "v1", "reference": "fraud:v1", "digest": None}],
                "models": [],
            }
        ],
    }
