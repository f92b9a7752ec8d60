"""``inferd ls`` and ``inferd history`` tables in a pipe or a narrow terminal: every name, tag
and time is printed whole on its row (never cut with '…' or wrapped onto a second line), so
``inferd ls | awk`` reads what ``inferd rm`` and ``inferd pull`` take, as ``docker images``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NAME = "team-with-a-long-name/subgroup/fraud-detection-model-experimental"
TAG = "release-candidate-2026-12-06-build-1234"


@pytest.fixture
def pushed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFERD_HOME", str(tmp_path / "home"))
    model = tmp_path / "model"
    shutil.copytree(EXAMPLES / "sklearn", model)
    assert CliRunner().invoke(main, ["push", str(model), f"{NAME}:{TAG}"]).exit_code == 0


@pytest.mark.parametrize("columns", ["80", "40"])
def test_ls_rows_are_whole(pushed: None, monkeypatch: pytest.MonkeyPatch, columns: str) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    result = CliRunner().invoke(main, ["ls"])
    assert result.exit_code == 0, result.output
    _header, row, *rest = result.stdout.splitlines()
    assert rest == []
    assert row.split()[:2] == [NAME, TAG]
    assert "…" not in result.stdout


def test_history_rows_are_whole(pushed: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    result = CliRunner().invoke(main, ["history", NAME])
    assert result.exit_code == 0, result.output
    _header, row, *rest = result.stdout.splitlines()
    assert rest == []
    day, time, tag, action = row.split()[:4]
    assert (tag, action) == (TAG, "push")
    assert len(f"{day} {time}") == len("2026-12-06 19:05:33")
