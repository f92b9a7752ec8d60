"""Fixtures shared by every test area. Keep this small: area fixtures live beside their tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def inferd_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty ``$INFERD_HOME`` for this test (the store lives under it)."""
    home = tmp_path / "inferd-home"
    home.mkdir()
    monkeypatch.setenv("INFERD_HOME", str(home))
    return home
