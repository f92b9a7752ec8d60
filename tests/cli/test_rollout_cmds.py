"""``inferd rollout history``: a deployment without a decision yet says so in words (it printed
nothing at all, which a person reads as a hang or a lost answer), and --limit says what it
limits."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import inferd.control.admin.client as client_module
from inferd.cli import main
from inferd.control.rollout.history import HistoryPage


class _Stack:
    """The admin API's answer for a deployment none of whose rollouts has started."""

    def rollout_history(self, deployment: str, limit: int) -> HistoryPage:
        return {"deployment": deployment, "decisions": []}


def test_a_history_without_decisions_says_so(
    inferd_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "AdminClient", lambda root: _Stack())
    result = CliRunner().invoke(main, ["rollout", "history", "fraud"])
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "fraud: no rollout decisions yet (start one with: inferd rollout start fraud)\n"
    )
    as_json = CliRunner().invoke(main, ["rollout", "history", "fraud", "--json"])
    assert as_json.exit_code == 0 and '"decisions": []' in as_json.stdout


def test_limit_has_help() -> None:
    result = CliRunner().invoke(main, ["rollout", "history", "--help"])
    assert "--limit" in result.stdout and "most recent decisions" in result.stdout


def test_an_empty_candidate_is_refused_not_taken_for_the_default(
    inferd_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--candidate "$VERSION"`` with VERSION unset started a rollout of the default candidate
    (the client sends no candidate for an empty one): a script rolled out what it did not name."""
    started: list[str | None] = []

    class Up:
        def rollout_start(self, deployment: str, candidate: str | None) -> None:
            started.append(candidate)

    monkeypatch.setattr(client_module, "AdminClient", lambda root: Up())
    result = CliRunner().invoke(main, ["rollout", "start", "fraud", "--candidate", ""])
    assert result.exit_code == 2
    assert "Invalid value for '--candidate': empty; name a version of the deployment" in (
        result.stderr
    )
    assert started == []
