"""What the dashboard's browser tests share: the headless Chromium they run, its flags, the folder
screenshots go to, and the fixtures that skip (locally) or fail (in CI, ``CI=true``) without
Chromium or without the charting library scripts/web-assets fetches.

A test module uses the fixtures by importing them (``from .browser import chromium``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from inferd.errors import NotFound
from inferd.observe.dashboard import VENDORED, asset

from .gateway.conftest import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars",
)  # fmt: skip


@pytest.fixture(scope="module")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is required in CI (scripts/system-deps installs it)")
        pytest.skip("chromium is not installed (scripts/system-deps installs it)")
    return CHROMIUM


@pytest.fixture
def vendored() -> None:
    """The charting library, fetched by scripts/web-assets (make venv)."""
    try:
        for path in VENDORED:
            asset(path)
    except NotFound as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{exc}: CI runs make venv, which fetches it")
        pytest.skip(str(exc))
