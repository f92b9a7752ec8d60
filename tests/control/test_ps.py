"""`inferd ps` as a table, from status documents (issue 12 item 11: a version without replicas,
scaled to zero or not, is listed too)."""

from __future__ import annotations

import io
from typing import Any, cast

from rich.console import Console

from inferd.cli.control_cmds import _ps_table
from inferd.control.admin.documents import AdminStatus


def scaling(**changes: Any) -> dict[str, Any]:
    """The autoscaler's last decision for fraud/v1, scaled to zero and idle."""
    return {
        "deployment": "fraud", "version": "v1", "actual": 0, "ready": 0, "desired": 0,
        "reason": "scale_to_zero", "panic": False, "stable_wants": 0, "panic_wants": 0,
        "metric": "concurrency", "value": 0.0, "stable": 0.0, "panic_value": 0.0, "idle_s": 9.0,
        "min_replicas": 0, "max_replicas": 2, "cold_start_timeout_s": 60.0, "held": 0,
        **changes,
    }  # fmt: skip


V1 = {"name": "v1", "reference": "fraud:v1", "weight": 100}


def status(replicas: list[dict[str, Any]], autoscaling: list[dict[str, Any]]) -> AdminStatus:
    return cast(
        AdminStatus,
        {
            "generation": 3,
            "deployments": [{"name": "fraud", "shadow": None, "versions": [V1]}],
            "replicas": replicas,
            "gateway": {"autoscaling": autoscaling},
        },
    )


def rows(document: AdminStatus) -> list[str]:
    """The table's rows, under the header, with runs of spaces as one."""
    out = io.StringIO()
    Console(width=200, file=out).print(_ps_table(document))
    return [" ".join(line.split()) for line in out.getvalue().splitlines()[1:]]


def test_a_deployment_scaled_to_zero_is_listed_at_0_of_n_with_its_state() -> None:
    assert rows(status([], [scaling()])) == [
        "fraud v1 0/2 - - scaled to zero: the next request starts one (held up to 60 s) - - 100%"
    ]


def test_while_it_wakes_the_held_requests_show() -> None:
    assert rows(status([], [scaling(held=3, actual=1)])) == [
        "fraud v1 0/2 - - scaling from zero: 3 requests held - - 100%"
    ]
    starting = {
        "deployment": "fraud", "version": "v1", "replica": "fraud-v1-1", "pid": 41, "port": 9001,
        "state": "starting", "restarts": 0, "uptime_s": 0.4, "reason": None, "routed": True,
    }  # fmt: skip
    assert rows(status([starting], [scaling(held=3, actual=1)])) == [
        "fraud v1 fraud-v1-1 41 9001 starting (scaling from zero: 3 requests held) 0 0s 100%"
    ]


def test_a_version_without_replicas_or_autoscaling_is_listed_too() -> None:
    assert rows(status([], [])) == ["fraud v1 0/0 - - no replicas - - 100%"]


def test_a_version_in_start_backoff_says_why_its_start_failed() -> None:
    failure = {
        "message": "replica fraud-v1-1 cannot start fraud:broken: onnxruntime cannot load "
        "'model.onnx'",
        "failures": 2,
        "retry_in_s": 0.8,
    }
    entry = scaling(reason="start_backoff", held=1, start_failure=failure)
    assert rows(status([], [entry])) == [
        "fraud v1 0/2 - - start failed (2 in a row, next try in 0.8 s): replica fraud-v1-1 "
        "cannot start fraud:broken: onnxruntime cannot load 'model.onnx' - - 100%"
    ]


def test_a_version_without_replicas_is_listed_in_its_deployments_place() -> None:
    """A canary scaled to zero sits under its deployment, before the next deployment's rows
    (it was listed after every replica of every deployment)."""
    document = cast(
        AdminStatus,
        {
            "generation": 3,
            "deployments": [
                {"name": "fraud", "shadow": None, "versions": [
                    {"name": "v1", "reference": "fraud:v1", "weight": 100},
                    {"name": "v2", "reference": "fraud:v2", "weight": 0},
                ]},
                {"name": "risk", "shadow": None, "versions": [V1]},
            ],
            "replicas": [
                {"deployment": d, "version": "v1", "replica": f"{d}-v1-1", "pid": 41,
                 "port": 9001, "state": "ready", "restarts": 0, "uptime_s": 5.0,
                 "reason": None, "routed": True}
                for d in ("fraud", "risk")
            ],
            "gateway": {"autoscaling": []},
        },
    )  # fmt: skip
    assert [row.split()[:3] for row in rows(document)] == [
        ["fraud", "v1", "fraud-v1-1"],
        ["fraud", "v2", "0/0"],
        ["risk", "v1", "risk-v1-1"],
    ]
