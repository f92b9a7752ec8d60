"""``inferd rollout history`` with no ``inferd up`` running answered "no `inferd up` is
running", though the history is on disk under ``$INFERD_HOME``: after ``inferd down`` (or a
crash), the person paged by ``InferdRolloutFailed`` could not read why. It now reads the file."""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner

from inferd.cli import main
from inferd.control.rollout.history import DecisionRecord, RolloutHistory

ROLLED_BACK: DecisionRecord = {
    "time": 1796637024.0,
    "deployment": "fraud",
    "rollout": "r-0a1b2c3d",
    "event": "rollback",
    "strategy": "canary",
    "stable": "v1",
    "candidate": "v2",
    "stage": 2,
    "candidate_weight": 0,
    "reason": "analysis failed",
}


def test_the_history_reads_without_inferd_up(inferd_home: Path) -> None:
    RolloutHistory(inferd_home).append(ROLLED_BACK)
    text = CliRunner().invoke(main, ["rollout", "history", "fraud"])
    assert text.exit_code == 0, text.output
    assert "r-0a1b2c3d rollback step 2 candidate 0%: analysis failed" in text.stdout
    as_json = CliRunner().invoke(main, ["rollout", "history", "fraud", "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert orjson.loads(as_json.stdout) == {
        "deployment": "fraud",
        "decisions": [{**ROLLED_BACK, "time": "2026-12-07T09:50:24+00:00"}],
    }
    none = CliRunner().invoke(main, ["rollout", "history", "other"])
    assert none.exit_code == 0, none.output
    assert "other: no rollout decisions" in none.stdout
