"""Every ``--json`` prints a point in time one way: RFC 3339 in UTC, as ``inferd ls --json``,
``inferd history --json`` and ``inferd keys list --json`` do. ``inferd rollout history``,
``rollout status`` (and every rollout command) and ``inferd ps``'s rollouts printed seconds
since the epoch instead (``"time": 1796637024.0``), so a script joining a rollout's decisions
with the store's tag moves had to know two formats."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

import inferd.control.admin.client as client_module
from inferd.cli import main
from inferd.control.rollout.history import DecisionRecord, RolloutHistory
from inferd.control.rollout.state import RolloutStatus
from inferd.control.up_state import UpState, write_state

#: 2026-12-07T10:30:24.500000+00:00
WHEN = 1796639424.5
ISO = "2026-12-07T10:30:24.500000+00:00"

DECISION: DecisionRecord = {
    "time": WHEN,
    "deployment": "fraud",
    "rollout": "r-0a1b2c3d",
    "event": "start",
    "strategy": "canary",
    "stable": "v1",
    "candidate": "v2",
    "stage": 1,
    "candidate_weight": 10,
}

STATUS: RolloutStatus = {
    "id": "r-0a1b2c3d",
    "deployment": "fraud",
    "strategy": "canary",
    "stable": "v1",
    "candidate": "v2",
    "phase": "running",
    "stage": 1,
    "stages": 3,
    "steps": [10, 50, 100],
    "candidate_weight": 10,
    "failures": 0,
    "failure_limit": 3,
    "interval_s": 60,
    "cause": "inferd rollout start",
    "started_at": WHEN,
    "updated_at": WHEN,
    "decisions": [DECISION],
}


class _Up:
    """The admin API's answers, as a running ``inferd up`` gives them (seconds since the epoch)."""

    def __init__(self, root: Path) -> None:
        pass

    def rollout_status(self, deployment: str) -> RolloutStatus:
        return STATUS

    def rollout_start(self, deployment: str, candidate: str | None) -> RolloutStatus:
        return STATUS

    def rollout_act(self, deployment: str, action: str) -> RolloutStatus:
        return STATUS

    def rollout_history(self, deployment: str, limit: int) -> dict[str, Any]:
        return {"deployment": deployment, "decisions": [DECISION]}

    def status(self) -> dict[str, Any]:
        return {"generation": 1, "deployments": [], "replicas": [],
                "gateway": {"rollouts": [STATUS], "autoscaling": [], "cost": None}}  # fmt: skip


def _json(*args: str) -> Any:
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return orjson.loads(result.stdout)


def test_the_rfc_3339_instant_is_the_same_one() -> None:
    assert datetime.fromisoformat(ISO).timestamp() == WHEN


def test_a_history_on_disk_prints_rfc_3339(inferd_home: Path) -> None:
    RolloutHistory(inferd_home).append(DECISION)
    assert _json("rollout", "history", "fraud")["decisions"] == [{**DECISION, "time": ISO}]


def test_the_running_up_s_rollouts_print_rfc_3339(
    inferd_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = UpState(1, "127.0.0.1", 1, "http://127.0.0.1:1", "inferd.yaml", time.time())
    write_state(inferd_home, state, "token")
    monkeypatch.setattr(client_module, "AdminClient", _Up)
    dated = {**STATUS, "started_at": ISO, "updated_at": ISO,
             "decisions": [{**DECISION, "time": ISO}]}  # fmt: skip
    for command in (["status"], ["start"], ["promote"], ["pause"], ["resume"], ["abort"]):
        assert _json("rollout", *command, "fraud") == dated, command
    assert _json("rollout", "history", "fraud")["decisions"] == [{**DECISION, "time": ISO}]
    assert _json("ps")["gateway"]["rollouts"] == [dated]
    assert STATUS["started_at"] == WHEN  # the answer itself is left as it came
