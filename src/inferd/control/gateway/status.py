"""The status document: what the dashboard shows and ``/api/status`` returns.

Built from the current topology snapshot, the recent-traffic windows and the shadow tallies;
a JSON-ready :class:`GatewayStatus` so the dashboard, ``inferd up`` and tests read the same
thing. ``inferd up`` serves a fuller document (:class:`~inferd.control.admin.documents.UpStatus`)
that adds ``"rollouts"`` and ``"autoscaling"``.

Rates are over the last :data:`~inferd.control.gateway.traffic.WINDOW_S` seconds; latencies in
milliseconds (None without traffic).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Literal, Protocol, TypedDict

from inferd.control.gateway.traffic import ShadowTally, TallyRecord, TrafficSummary, Window
from inferd.control.replicas.topology import DeploymentRoute, Replica, ReplicaState, Topology


class ReplicaLoad(Protocol):
    """What the status reads of the gateway's balancer (:class:`~.balance.Balancer`)."""

    @property
    def outstanding(self) -> Mapping[str, int]: ...

    def ejection(self, replica_id: str) -> str | None: ...


class ReplicaStatus(TypedDict):
    id: str
    host: str
    port: int
    state: ReplicaState
    pid: int | None
    restarts: int
    uptime_s: float | None
    #: Why it is failed, or ejected by the gateway as an outlier (:mod:`.outliers`).
    reason: str | None
    #: Requests sent to it and not answered yet.
    outstanding: int


class TrafficStatus(TypedDict):
    rps: float
    error_rate: float
    p50_ms: float | None
    p99_ms: float | None
    requests: int


class VersionStatus(TrafficStatus):
    name: str
    model: str
    reference: str
    role: Literal["primary", "shadow"]
    weight: float
    #: Observed share of the deployment's primary requests in the window.
    share: float
    replicas: list[ReplicaStatus]


class HeaderRouteStatus(TypedDict):
    header: str
    value: str
    version: str


class ShadowComparison(TallyRecord):
    primary: str
    shadow: str


class DeploymentStatus(TypedDict):
    name: str
    shadow: str | None
    sticky_header: str | None
    header_routes: list[HeaderRouteStatus]
    ready: bool
    rps: float
    error_rate: float
    versions: list[VersionStatus]
    shadow_comparisons: list[ShadowComparison]


class GatewayStatus(TypedDict):
    generation: int
    ready: bool
    uptime_s: float
    deployments: list[DeploymentStatus]


def build_status(
    topology: Topology,
    windows: Mapping[tuple[str, str], Window],
    tallies: Mapping[tuple[str, str, str], ShadowTally],
    load: ReplicaLoad,
    uptime_s: float,
    *,
    ready: bool,
) -> GatewayStatus:
    """``load``: requests in flight and outlier ejections per replica. ``ready`` is the
    gateway's own readiness (``/v2/health/ready``: a deployment that scales
    from zero is ready with no replica), so the two never disagree."""
    deployments = [_deployment(d, windows, tallies, load) for d in topology.deployments.values()]
    return {
        "generation": topology.generation,
        "ready": ready,
        "uptime_s": round(uptime_s, 3),
        "deployments": sorted(deployments, key=lambda d: d["name"]),
    }


def _deployment(
    route: DeploymentRoute,
    windows: Mapping[tuple[str, str], Window],
    tallies: Mapping[tuple[str, str, str], ShadowTally],
    load: ReplicaLoad,
) -> DeploymentStatus:
    summaries = {
        v.name: windows[(route.name, v.name)].summary()
        for v in route.versions
        if (route.name, v.name) in windows
    }
    primary = {k: s for k, s in summaries.items() if k != route.shadow}
    served = sum(s.requests for s in primary.values())
    # Requests refused before a version was picked (Gateway.record's version ""): the
    # deployment's traffic, though no version's; a deployment whose every start fails would
    # read 0 % errors without them.
    unpicked = windows.get((route.name, ""))
    counted = [*primary.values(), *([unpicked.summary()] if unpicked is not None else [])]
    total_rps = sum(s.rps for s in counted)
    total_requests = sum(s.requests for s in counted)
    errors = sum(s.error_rate * s.requests for s in counted)
    now = time.time()
    versions: list[VersionStatus] = []
    for v in route.versions:
        summary = summaries.get(v.name)
        role: Literal["primary", "shadow"] = "shadow" if v.name == route.shadow else "primary"
        share = (
            summary.requests / served
            if summary is not None and served and role == "primary"
            else 0.0
        )
        versions.append(
            {
                "name": v.name,
                "model": v.model,
                "reference": v.reference,
                "role": role,
                "weight": v.weight,
                "share": share,
                **_traffic(summary),
                "replicas": [_replica(r, load, now) for r in v.replicas],
            }
        )
    return {
        "name": route.name,
        "shadow": route.shadow,
        "sticky_header": route.sticky_header,
        "header_routes": [
            {"header": m.header, "value": m.value, "version": m.version}
            for m in route.header_routes
        ],
        "ready": any(v.ready_replicas for v in route.versions if v.name != route.shadow),
        "rps": total_rps,
        "error_rate": errors / total_requests if total_requests else 0.0,
        "versions": versions,
        "shadow_comparisons": [
            {"primary": key[1], "shadow": key[2], **tally.as_dict()}
            for key, tally in sorted(tallies.items())
            if key[0] == route.name
        ],
    }


def _traffic(summary: TrafficSummary | None) -> TrafficStatus:
    if summary is None:
        return {"rps": 0.0, "error_rate": 0.0, "p50_ms": None, "p99_ms": None, "requests": 0}
    return {
        "rps": summary.rps,
        "error_rate": summary.error_rate,
        "p50_ms": summary.p50_ms,
        "p99_ms": summary.p99_ms,
        "requests": summary.requests,
    }


def _replica(replica: Replica, load: ReplicaLoad, now: float) -> ReplicaStatus:
    ejected = load.ejection(replica.id)
    reason = "; ".join([why for why in (ejected, replica.reason) if why]) or None
    return {
        "id": replica.id,
        "host": replica.host,
        "port": replica.port,
        "state": replica.state,
        "pid": replica.pid,
        "restarts": replica.restarts,
        "uptime_s": round(now - replica.started_at, 1) if replica.started_at else None,
        "reason": reason,
        "outstanding": load.outstanding.get(replica.id, 0),
    }
