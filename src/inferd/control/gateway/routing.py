"""Routing decisions as pure functions of (route, request headers, a random draw).

Nothing here does I/O or keeps state: the proxy passes in the deployment's current
:class:`~.replicas.topology.DeploymentRoute`, the request's lower-case headers and a draw in
``[0, 1)``, and gets back the version (and then the replica) to use. Tests drive these with tables.

Order of precedence for the version, first match wins:

1. a version named in the path (``/v2/models/{m}/versions/{v}/…``);
2. a header match (A/B routing);
3. the sticky header, hashed to a stable point in ``[0, 1)`` that stands in for the draw;
4. weighted random by the versions' weights.

Only versions with at least one ready replica take part in 2 to 4: when the canary's replicas
are all restarting, its share goes to the others instead of failing (availability first). In
a deployment that scales from zero, a version scaled to zero (no replica at all, starting or
not) takes part too, by its weight or as a header route's version (at weight 0 too): it is
chosen without a ready replica, and the gateway holds the request while it starts, so that
traffic follows the weights and header routes — otherwise a stable version at zero would never
be woken while a canary answers, and the canary would take every request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Set

from inferd.control.replicas.topology import DeploymentRoute, Replica, VersionRoute
from inferd.errors import ModelNotFound, Unavailable
from inferd.spec.edits import main_version_name

#: Retry-After advertised when a deployment has no ready replica (a replica may be restarting).
NO_REPLICA_RETRY_S = 1.0


def sticky_point(value: str) -> float:
    """A stable point in ``[0, 1)`` for a sticky header value: same value, same point, in every
    process and across restarts (unlike ``hash()``, which is salted per process)."""
    digest = hashlib.blake2b(value.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def weighted_pick(versions: tuple[VersionRoute, ...], draw: float) -> VersionRoute | None:
    """The version whose cumulative-weight interval contains ``draw`` (in ``[0, 1)``).

    Weights are normalised over the versions given, so they need not add up to 100. Versions of
    weight 0 are never picked; when every weight is 0 nothing is picked.
    """
    if len(versions) == 1:  # the usual deployment: no draw to place
        only = versions[0]
        return only if only.weight > 0 else None
    total = sum([v.weight for v in versions if v.weight > 0])
    if total <= 0:
        return None
    target = draw * total
    acc = 0.0
    chosen: VersionRoute | None = None
    for version in versions:
        if version.weight <= 0:
            continue
        acc += version.weight
        chosen = version
        if target < acc:
            return version
    # Floating-point rounding can leave target == total: the last positive weight takes it.
    return chosen


def choose_version(
    route: DeploymentRoute,
    headers: Mapping[str, str],
    draw: float,
    requested: str | None = None,
    *,
    from_zero: bool = False,
) -> VersionRoute:
    """The version that serves one primary request (see the module docstring for the order).

    ``from_zero``: the deployment scales from zero, so a version
    :attr:`~VersionRoute.scaled_to_zero` may be chosen, and a header route's version
    :attr:`~VersionRoute.at_zero` whatever its weight (the caller holds the request while it
    starts). Raises :class:`ModelNotFound` for a requested version the deployment does not
    have, and :class:`Unavailable` when no version can take the request right now.
    """
    if requested is not None:
        return _requested(route, requested)
    for match in route.header_routes:
        if headers.get(match.header.lower()) == match.value:
            version = route.version(match.version)
            if version is not None and (version.ready_replicas or (from_zero and version.at_zero)):
                return version
    live = route.primaries_from_zero if from_zero else route.primaries
    if route.sticky_header is not None:
        key = headers.get(route.sticky_header.lower())
        if key is not None:
            draw = sticky_point(key)
    chosen = weighted_pick(live, draw)
    if chosen is None:
        raise Unavailable(
            f"deployment {route.name!r} has no ready replica", retry_after=NO_REPLICA_RETRY_S
        )
    return chosen


def metadata_version(route: DeploymentRoute, requested: str | None = None) -> VersionRoute | None:
    """The version that answers metadata and readiness requests: ``requested``, else the main
    version (:func:`~inferd.spec.edits.main_version_name`) among those with a ready replica,
    else among all — so metadata does not flip between versions from one request to the next.

    Raises :class:`ModelNotFound` for a requested version the deployment does not have (or its
    shadow); None when it has no version to answer.
    """
    if requested is not None:
        return _requested(route, requested)
    ready = {v.name: v.weight for v in route.versions if v.ready_replicas}
    name = main_version_name(ready, route.shadow) or main_version_name(
        {v.name: v.weight for v in route.versions}, route.shadow
    )
    return route.version(name) if name is not None else None


def metadata_versions(route: DeploymentRoute, asked: str | None) -> list[str]:
    """A model metadata's ``versions`` (OIP: those a client may request): the version ``asked``
    for, as Triton answers a version's metadata, else every version of the deployment a client
    may name in a path or ``model_version`` (all but the shadow)."""
    return [asked] if asked else [v.name for v in route.versions if v.name != route.shadow]


def _requested(route: DeploymentRoute, name: str) -> VersionRoute:
    """The version a request names; ModelNotFound when the deployment has none of that name,
    or it is the shadow (which takes no client request)."""
    version = route.version(name)
    if version is None or version.name == route.shadow:
        raise ModelNotFound(route.name, name)
    return version


def pick_replica(
    replicas: tuple[Replica, ...],
    outstanding: Mapping[str, int],
    draw: float,
    avoid: Set[str] = frozenset(),
) -> Replica | None:
    """Least outstanding requests among ``replicas``; ties broken by ``draw``.

    Replicas whose id is in ``avoid`` (one that just failed, or one ejected after connection
    errors) are used only when nothing else is left.
    """
    if len(replicas) <= 1:  # one replica serves whatever it is told to avoid
        return replicas[0] if replicas else None
    preferred = [r for r in replicas if r.id not in avoid] or list(replicas)
    fewest = min(outstanding.get(r.id, 0) for r in preferred)
    tied = [r for r in preferred if outstanding.get(r.id, 0) == fewest]
    return tied[min(int(draw * len(tied)), len(tied) - 1)]


def is_ready(deployments: Mapping[str, DeploymentRoute]) -> bool:
    """The gateway's readiness: there is something to serve, and every deployment can serve
    primary traffic (has a ready replica in a version that is not its shadow). A gateway that
    has not been given its deployments yet (``inferd up`` still starting) is not ready."""
    return bool(deployments) and all(d.primaries for d in deployments.values())
