"""``inferd ps`` through a pipe: every replica on one line, its state whole (rich cut the
table to 140 columns, so a long state, a failed start's reason, wrapped onto more lines and
``inferd ps | grep`` lost it)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, cast

import pytest
from click.testing import CliRunner

from inferd.cli import main
from inferd.control.admin.client import AdminClient
from inferd.control.admin.documents import AdminStatus
from inferd.control.up_state import UpState, write_state

REASON = (
    "model 'fraud-detection-model' version 'candidate-2026-12' not found "
    "(push it first: inferd push DIR fraud-detection-model:candidate-2026-12)"
)


def document() -> AdminStatus:
    replica = {
        "deployment": "fraud-detection-model", "version": "stable-2026-11",
        "replica": "fraud-detection-model-stable-2026-11-1", "pid": 41, "port": 9001,
        "state": "ready", "restarts": 0, "uptime_s": 75.0, "reason": None, "routed": True,
    }  # fmt: skip
    scaling = {
        "deployment": "fraud-detection-model", "version": "candidate-2026-12", "held": 0,
        "max_replicas": 2, "cold_start_timeout_s": 60.0,
        "start_failure": {"failures": 3, "retry_in_s": 10.0, "message": REASON},
    }  # fmt: skip
    versions = [
        {"name": "stable-2026-11", "reference": "fraud:v1", "weight": 90},
        {"name": "candidate-2026-12", "reference": "fraud:v2", "weight": 10},
    ]
    return cast(
        AdminStatus,
        {
            "generation": 3,
            "deployments": [
                {"name": "fraud-detection-model", "shadow": None, "versions": versions}
            ],
            "replicas": [replica],
            "gateway": {"autoscaling": [scaling]},
        },
    )


def test_each_replica_and_its_whole_state_on_one_line(
    inferd_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = UpState(os.getpid(), "127.0.0.1", 1, "http://127.0.0.1:1", "x.yaml", time.time())
    write_state(inferd_home, state, "token")

    def status(_client: Any) -> AdminStatus:
        return document()

    monkeypatch.setattr(AdminClient, "status", status)
    result = CliRunner().invoke(main, ["ps"])
    assert result.exit_code == 0, result.output
    header, ready, failed = result.stdout.splitlines()
    assert header.split()[:3] == ["DEPLOYMENT", "VERSION", "REPLICA"]
    assert ready.split()[:4] == [
        "fraud-detection-model", "stable-2026-11", "fraud-detection-model-stable-2026-11-1", "41",
    ]  # fmt: skip
    assert failed.split()[:3] == ["fraud-detection-model", "candidate-2026-12", "0/2"]
    assert REASON in failed and failed.rstrip().endswith("10%")
