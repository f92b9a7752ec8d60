"""How ``inferd rollout history`` and ``status`` print a decision."""

from __future__ import annotations

import time

import pytest

from inferd.cli.rollout_cmds import _line
from inferd.control.rollout.history import DecisionRecord

DIGEST = "sha256:" + "0a1b2c3d4e5f" + "7" * 52


def rollback(**note: str) -> DecisionRecord:
    record: DecisionRecord = {
        "time": 0.0, "deployment": "fraud", "rollout": "r-1", "event": "rollback",
        "strategy": "blue-green", "stable": "v1", "candidate": "v1-next", "stage": 1,
        "candidate_weight": 0, "reason": "analysis failed", "reverted": "fraud:production",
    }  # fmt: skip
    record.update(note)  # type: ignore[typeddict-item]
    return record


def test_a_moved_back_alias_names_the_model_it_points_to() -> None:
    """Version v1 may serve another model than its name says (fraud:v2, say)."""
    line = _line(rollback(reverted_to=f"fraud@{DIGEST}"))
    assert line.endswith("; fraud:production moved back to fraud@sha256:0a1b2c3d4e5f")
    assert _line(rollback()).endswith("; fraud:production moved back to what v1 served")


def test_a_decision_prints_its_date_and_utc_time_as_inferd_history_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A decision printed its local time of day alone (``05:30:24``): a history of several days
    read as one, and beside ``inferd history`` (date and UTC time) it was hours off wherever
    the machine's zone is not UTC."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        record = rollback()
        record["time"] = 1796639424.5
        assert _line(record).startswith("2026-12-07 10:30:24 r-1 rollback step 1")
    finally:
        monkeypatch.undo()
        time.tzset()
