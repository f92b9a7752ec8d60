"""A rollout history whose last line a crash tore (``inferd up`` killed, the disk full mid-write)
lost the next decision too: it was appended onto the fragment, and the reader skipped the
joined line as one that does not parse. The next append now ends the fragment first."""

from __future__ import annotations

from pathlib import Path

from inferd.control.rollout.history import DecisionRecord, RolloutHistory

START: DecisionRecord = {
    "time": 1796637024.0, "deployment": "fraud", "rollout": "r-0a1b2c3d", "event": "start",
    "strategy": "canary", "stable": "v1", "candidate": "v2", "stage": 1, "candidate_weight": 20,
}  # fmt: skip


def test_a_decision_appended_after_a_torn_line_is_kept(tmp_path: Path) -> None:
    history = RolloutHistory(tmp_path)
    history.append(START)
    with history.path("fraud").open("ab") as torn:
        torn.write(b'{"time": 1796637030.0, "deployment": "fra')  # no newline: the crash
    aborted: DecisionRecord = {**START, "event": "abort", "reason": "aborted by hand"}
    history.append(aborted)
    assert history.read("fraud") == [START, aborted]
    assert history.read("fraud", 1) == [aborted]
