"""What the dashboard's browser tests share: the headless Chromium they run, its flags, the folder
screenshots go to, the fixtures that skip (locally) or fail (in CI, ``CI=true``) without
Chromium or without the charting library scripts/web-assets fetches, and :class:`DevTools`,
which drives one page over Chromium's DevTools pipe (``--remote-debugging-pipe``:
NUL-terminated JSON on file descriptors 3 and 4, so no extra package is needed).

A test module uses the fixtures by importing them (``from .browser import chromium``).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

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


class DevTools:
    """One Chromium and one page in it, spoken to over the DevTools pipe (blocking calls)."""

    def __init__(self, profile: Path) -> None:
        to_chrome, self._write = os.pipe()
        self._read, from_chrome = os.pipe()
        # Chromium reads commands from fd 3 and writes answers and events to fd 4 (bash: dash
        # takes single-digit descriptors only).
        self.proc = subprocess.Popen(
            ["bash", "-c", f'exec "$0" "$@" 3<&{to_chrome} 4>&{from_chrome}', CHROMIUM, *FLAGS,
             "--remote-debugging-pipe", f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(to_chrome, from_chrome),
        )  # fmt: skip
        os.close(to_chrome)
        os.close(from_chrome)
        self._ids = itertools.count(1)
        self._buffer = b""
        #: Events received (``{"method", "params", "sessionId"}``), oldest first.
        self.events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        self.page("Page.enable")

    def close(self) -> None:
        os.close(self._write)
        os.close(self._read)
        self.proc.terminate()
        self.proc.wait(30)

    def _message(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed its DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def call(self, method: str, session: bool = False, **params: Any) -> dict[str, Any]:
        ident = next(self._ids)
        message: dict[str, Any] = {"id": ident, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._message()
            if answer.get("id") == ident:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                result: dict[str, Any] = answer["result"]
                return result
            self.events.append(answer)

    def page(self, method: str, **params: Any) -> dict[str, Any]:
        return self.call(method, session=True, **params)

    def js(self, expression: str) -> Any:
        result = self.page("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def until(self, expression: str, timeout: float = 60) -> Any:
        """The value of ``expression`` once it is truthy (evaluated every 0.2 s)."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.js(expression)
            if value:
                return value
            assert time.monotonic() < deadline, f"never true: {expression}"
            time.sleep(0.2)

    def screenshot(self, path: Path) -> None:
        data = self.page("Page.captureScreenshot", format="png")["data"]
        ARTIFACTS.mkdir(exist_ok=True)
        path.write_bytes(base64.b64decode(data))
