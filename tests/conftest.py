"""Fixtures shared by every test area. Keep this small: area fixtures live beside their tests."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def promtool() -> str:
    """Prometheus' ``promtool`` (checks rules, metrics and unit tests): required in CI, where
    scripts/system-deps installs it; elsewhere a test that needs it is skipped."""
    found = shutil.which("promtool") or (
        "/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None
    )
    if found is None:
        message = "promtool is not installed (scripts/system-deps installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture
def inferd_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty ``$INFERD_HOME`` for this test (the store lives under it)."""
    home = tmp_path / "inferd-home"
    home.mkdir()
    monkeypatch.setenv("INFERD_HOME", str(home))
    return home


#: Progress-bar updates recorded by :func:`bars`: (label, done, total).
Calls = list[tuple[str, int, int]]


@pytest.fixture
def bars(monkeypatch: pytest.MonkeyPatch) -> Calls:
    """Stderr is a terminal, and each CLI progress bar's updates are recorded."""
    from inferd.cli import store_cmds

    calls: Calls = []

    @contextmanager
    def recording(
        enabled: bool, label: str = "pushing", threshold: int = 0
    ) -> Iterator[Callable[[int, int], None] | None]:
        yield (lambda done, total: calls.append((label, done, total))) if enabled else None

    monkeypatch.setattr(store_cmds, "bars_wanted", lambda *, quiet, as_json: not (quiet or as_json))
    monkeypatch.setattr(store_cmds, "progress_bar", recording)
    return calls
