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
