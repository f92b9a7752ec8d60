"""The status document: what the dashboard shows and ``/api/status`` returns.

Built from the current topology snapshot, the recent-traffic windows and the shadow tallies;
a plain JSON-ready dict so the dashboard, ``inferd up`` and tests read the same thing. Shape::

    {"generation": int, "ready": bool, "uptime_s": float,
     "deployments": [{"name", "shadow", "sticky_header", "header_routes": [...],
                      "ready": bool, "rps", "error_rate",
                      "versions": [{"name", "model", "reference", "role", "weight",
                                    "share" (observed share of the deployment's requests),
                                    "rps", "error_rate", "p50_ms", "p99_ms", "requests",
                                    "replicas": [{"id", "host", "port", "state", "pid",
                                                  "restarts", "uptime_s", "reason",
                                                  "outstanding"}]}],
                      "shadow_comparisons": [{"primary", "shadow", "compared", "failed",
                                              "timeout", "dropped", "divergence": {...}}]}]}

``inferd up`` adds ``"rollouts"`` (see :meth:`inferd.control.rollout.state.Rollout.status`)
and ``"autoscaling"`` (see :meth:`inferd.control.autoscale.loop.AutoscaleLoop.status`).

Rates are over the last :data:`~inferd.control.gateway.traffic.WINDOW_S` seconds; latencies in
milliseconds (None without traffic).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from inferd.control.gateway.routing import is_ready
from inferd.control.gateway.traffic import ShadowTally, TrafficSummary, Window
from inferd.control.replicas.topology import DeploymentRoute, Replica, Topology


def build_status(
    topology: Topology,
    windows: Mapping[tuple[str, str], Window],
    tallies: Mapping[tuple[str, str, str], ShadowTally],
    outstanding: Mapping[str, int],
    uptime_s: float,
) -> dict[str, Any]:
    deployments = [
        _deployment(d, windows, tallies, outstanding) for d in topology.deployments.values()
    ]
    return {
        "generation": topology.generation,
        "ready": is_ready(topology.deployments),
        "uptime_s": round(uptime_s, 3),
        "deployments": sorted(deployments, key=lambda d: str(d["name"])),
    }


def _deployment(
    route: DeploymentRoute,
    windows: Mapping[tuple[str, str], Window],
    tallies: Mapping[tuple[str, str, str], ShadowTally],
    outstanding: Mapping[str, int],
) -> dict[str, Any]:
    summaries = {
        v.name: windows[(route.name, v.name)].summary()
        for v in route.versions
        if (route.name, v.name) in windows
    }
    primary = {k: s for k, s in summaries.items() if k != route.shadow}
    total_rps = sum(s.rps for s in primary.values())
    total_requests = sum(s.requests for s in primary.values())
    errors = sum(s.error_rate * s.requests for s in primary.values())
    now = time.time()
    versions = []
    for v in route.versions:
        summary = summaries.get(v.name)
        role = "shadow" if v.name == route.shadow else "primary"
        share = (
            summary.requests / total_requests
            if summary is not None and total_requests and role == "primary"
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
                "replicas": [_replica(r, outstanding, now) for r in v.replicas],
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


def _traffic(summary: TrafficSummary | None) -> dict[str, Any]:
    if summary is None:
        return {"rps": 0.0, "error_rate": 0.0, "p50_ms": None, "p99_ms": None, "requests": 0}
    return {
        "rps": summary.rps,
        "error_rate": summary.error_rate,
        "p50_ms": summary.p50_ms,
        "p99_ms": summary.p99_ms,
        "requests": summary.requests,
    }


def _replica(replica: Replica, outstanding: Mapping[str, int], now: float) -> dict[str, Any]:
    return {
        "id": replica.id,
        "host": replica.host,
        "port": replica.port,
        "state": replica.state,
        "pid": replica.pid,
        "restarts": replica.restarts,
        "uptime_s": round(now - replica.started_at, 1) if replica.started_at else None,
        "reason": replica.reason,
        "outstanding": outstanding.get(replica.id, 0),
    }
