"""Model lineage for the dashboard: the store's history of the tags each deployment serves.

Each version a deployment serves names a model in the store (``fraud:production@sha256:…``);
the store's history holds every push, tag and removal of that name, with the digest each tag
pointed at before and after, and who did it (``inferd history NAME`` prints the same). The
gateway has no store of its own: ``inferd up`` hands it the store's
:meth:`~inferd.store.ModelStore.history` as a :data:`ModelHistory`, and without one the
document says so (``"store": false``).

Alias moves found here are also marked on the charts (:mod:`.sampling`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypedDict

from inferd.control.replicas.topology import Topology
from inferd.errors import InferdError
from inferd.reference import Reference
from inferd.store.history import HistoryEvent

#: Every tag move of a model name, oldest first (:meth:`~inferd.store.ModelStore.history`).
ModelHistory = Callable[[str], list[HistoryEvent]]
#: Store actions that move tags (trust grants are not lineage).
TAG_ACTIONS = frozenset({"push", "tag", "rm"})
#: Events shown per model, newest first.
MAX_EVENTS_PER_MODEL = 50


class LineageEvent(TypedDict):
    time: str
    tag: str
    action: str
    #: Manifest digests the tag pointed at before and after (None: absent).
    old: str | None
    new: str | None
    by: str


class ModelLineage(TypedDict):
    name: str
    #: Newest first, at most :data:`MAX_EVENTS_PER_MODEL`.
    events: list[LineageEvent]
    #: Tag moves in the store's history beyond those listed.
    more: int


class ServedVersion(TypedDict):
    version: str
    reference: str
    #: The digest its replicas serve (None when not known).
    digest: str | None


class DeploymentLineage(TypedDict):
    name: str
    versions: list[ServedVersion]
    models: list[ModelLineage]


class LineageDocument(TypedDict):
    """What ``GET /api/lineage`` answers."""

    #: Whether the gateway reads a store (under ``inferd up``); without one, models are empty.
    store: bool
    deployments: list[DeploymentLineage]


def model_names(topology: Topology) -> dict[str, list[str]]:
    """The local store names each deployment's versions serve, by deployment (remote
    references have no history in this store)."""
    names: dict[str, list[str]] = {}
    for d in topology.deployments.values():
        found: list[str] = []
        for v in d.versions:
            ref = _parse(v.reference)
            if ref is not None and ref.registry is None and ref.name not in found:
                found.append(ref.name)
        names[d.name] = found
    return names


def tag_moves(history: ModelHistory, names: Iterable[str]) -> dict[str, list[HistoryEvent]]:
    """The tag moves (push, tag, rm) of each name, oldest first; blocking (reads the store)."""
    return {name: [e for e in history(name) if e.action in TAG_ACTIONS] for name in set(names)}


def build_lineage(topology: Topology, history: ModelHistory | None) -> LineageDocument:
    """The lineage of every deployment in ``topology``; blocking (reads the store)."""
    names = model_names(topology)
    moves = tag_moves(history, {n for ns in names.values() for n in ns}) if history else {}
    deployments: list[DeploymentLineage] = []
    for d in sorted(topology.deployments.values(), key=lambda d: d.name):
        served: list[ServedVersion] = []
        for v in d.versions:
            ref = _parse(v.reference)
            served.append(
                {
                    "version": v.name,
                    "reference": v.reference,
                    "digest": v.digest or (ref.digest if ref is not None else None),
                }
            )
        models: list[ModelLineage] = []
        for name in names[d.name] if history else ():
            events = moves.get(name, [])
            newest = events[::-1][:MAX_EVENTS_PER_MODEL]
            models.append(
                {
                    "name": name,
                    "events": [_event(e) for e in newest],
                    "more": len(events) - len(newest),
                }
            )
        deployments.append({"name": d.name, "versions": served, "models": models})
    return {"store": history is not None, "deployments": deployments}


def _event(e: HistoryEvent) -> LineageEvent:
    return {
        "time": e.time.isoformat(),
        "tag": e.tag,
        "action": e.action,
        "old": e.old,
        "new": e.new,
        "by": f"{e.user}@{e.host}",
    }


def _parse(reference: str) -> Reference | None:
    try:
        return Reference.parse(reference)
    except InferdError:
        return None
