"""`inferd ps` with the autoscaler's entry per scaled version: a woken canary's entry beside the
main version's does not hide the main version's state (the entries were keyed by deployment,
the last one listed winning)."""

from __future__ import annotations

from typing import Any, cast

from inferd.control.admin.documents import AdminStatus

from .test_ps import rows, scaling


def two_versions(replicas: list[dict[str, Any]], autoscaling: list[dict[str, Any]]) -> AdminStatus:
    versions = [
        {"name": "v1", "reference": "fraud:v1", "weight": 80},
        {"name": "v2", "reference": "fraud:v2", "weight": 20},
    ]
    return cast(
        AdminStatus,
        {
            "generation": 3,
            "deployments": [{"name": "fraud", "shadow": None, "versions": versions}],
            "replicas": replicas,
            "gateway": {"autoscaling": autoscaling},
        },
    )


def test_each_version_at_zero_shows_its_own_scaling_state() -> None:
    main = scaling(main=True, scaled_on="deployment")
    canary = scaling(version="v2", main=False, scaled_on="version", max_replicas=3)
    canary["start_failure"] = {"message": "cannot load", "failures": 1, "retry_in_s": 2.0}
    assert rows(two_versions([], [main, canary])) == [
        "fraud v1 0/2 - - scaled to zero: the next request starts one (held up to 60 s) - - 80%",
        "fraud v2 0/3 - - start failed (1 in a row, next try in 2 s): cannot load - - 20%",
    ]


def test_a_starting_replica_shows_the_requests_held_for_its_deployment() -> None:
    starting = {
        "deployment": "fraud", "version": "v1", "replica": "fraud-v1-1", "pid": 41, "port": 9001,
        "state": "starting", "restarts": 0, "uptime_s": 0.4, "reason": None, "routed": True,
    }  # fmt: skip
    entries = [scaling(held=2, actual=1), scaling(version="v2", held=2, actual=1)]
    assert rows(two_versions([starting], entries))[0] == (
        "fraud v1 fraud-v1-1 41 9001 starting (scaling from zero: 2 requests held) 0 0s 80%"
    )


def test_a_version_not_woken_yet_shows_its_deployments_scale_from_zero() -> None:
    """No entry of its own (not woken): it showed ``0/0 no replicas`` as if it could never
    start, in a deployment that scales from zero."""
    main = scaling(main=True, scaled_on="deployment")
    status = two_versions([], [main])
    status["deployments"][0]["versions"][1]["weight"] = 0
    assert rows(status)[1] == (
        "fraud v2 0/2 - - scaled to zero: weight 0, so a rollout step or header route starts "
        "one - - 0%"
    )
    status["deployments"][0]["versions"][1]["weight"] = 20
    assert "scaled to zero: the next request starts one" in rows(status)[1]
    main["cold_start_timeout_s"] = None  # a deployment that does not scale from zero
    assert rows(two_versions([], [main]))[1] == "fraud v2 0/0 - - no replicas - - 20%"
