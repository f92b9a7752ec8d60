"""The dashboard as on-call uses it, in a real headless Chromium driven over its DevTools pipe.

Each test loads the page from a live gateway in front of a real replica and then reads the
page's DOM and layout while the gateway misbehaves the way gateways do: its status endpoint
fails, or stops answering, or the screen is a phone's. The DevTools protocol is spoken over
``--remote-debugging-pipe`` (NUL-terminated JSON on file descriptors 3 and 4), so no extra
package is needed. Without Chromium the tests skip locally and fail in CI (``CI=true``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest

from inferd.config import StoreSettings
from inferd.control.gateway import Gateway
from inferd.control.replicas.topology import Topology
from inferd.packaging import push
from inferd.store import ModelStore

from .browser import ARTIFACTS, CHROMIUM, FLAGS, chromium, vendored
from .gateway.conftest import (
    QUICKSTART,
    ReplicaProcess,
    deployment,
    run,
    start_replica,
    started_gateway,
    topology,
    version,
)

__all__ = ["chromium", "vendored"]  # fixtures, used by name
T = TypeVar("T")


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
        import base64

        data = self.page("Page.captureScreenshot", format="png")["data"]
        ARTIFACTS.mkdir(exist_ok=True)
        path.write_bytes(base64.b64decode(data))


@pytest.fixture(scope="module")
def replica(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplicaProcess]:
    """fraud:v1, one replica, over a store of its own."""
    home = tmp_path_factory.mktemp("dashboard-trial") / "home"
    push(ModelStore.from_settings(StoreSettings(home=home)), QUICKSTART / "fraud-v1", "fraud:v1")
    server = start_replica(home, "fraud:v1")
    try:
        yield server
    finally:
        server.stop()


def with_browser(
    topo: Topology,
    profile: Path,
    drive: Callable[[DevTools, str], T],
    status: Callable[[Gateway], Callable[[], Mapping[str, object]]] | None = None,
) -> T:
    """Start a gateway routing by ``topo`` (its status document from ``status(gateway)`` if
    given) and run ``drive(devtools, base_url)`` in a thread while the gateway serves."""

    async def scenario() -> T:
        gateway = await started_gateway(topo)
        if status is not None:
            gateway.status_document = status(gateway)
        tools = await asyncio.to_thread(DevTools, profile)
        try:
            return await asyncio.to_thread(drive, tools, f"http://127.0.0.1:{gateway.port}")
        finally:
            await asyncio.to_thread(tools.close)
            await gateway.stop(5)

    return run(scenario)


def test_a_failing_status_endpoint_is_named_and_the_numbers_marked_stale(
    chromium: str, replica: ReplicaProcess, tmp_path: Path
) -> None:
    """/api/status answering 500 after a good poll: the page says which endpoint failed with
    what status, marks the numbers it still shows as stale, and recovers by itself when the
    endpoint answers again (it used to say "gateway unreachable" for any failure)."""
    broken = {"on": False}

    def status(gateway: Gateway) -> Callable[[], Mapping[str, object]]:
        def document() -> Mapping[str, object]:
            if broken["on"]:
                raise RuntimeError("status broke")
            return gateway.status()

        return document

    def drive(tools: DevTools, base: str) -> tuple[str, str, str, str]:
        tools.page("Page.navigate", url=base)
        tools.until("document.querySelectorAll('tr[data-version]').length === 1")
        broken["on"] = True
        problem = tools.until("!document.getElementById('problem').hidden"
                              " && document.getElementById('problem').textContent")  # fmt: skip
        badge = tools.js("document.getElementById('ready').textContent")
        updated = tools.js("document.getElementById('updated').textContent")
        broken["on"] = False
        tools.until("document.getElementById('problem').hidden")
        return problem, badge, updated, tools.js("document.getElementById('ready').textContent")

    result = with_browser(topology(deployment("fraud", version("v1", 100, replica))),
                          tmp_path / "profile", drive, status)  # fmt: skip
    problem, badge, updated, recovered = result
    assert problem.startswith("/api/status: HTTP 500")
    assert badge == "status error"
    assert updated.startswith("stale: last update ")
    assert recovered == "ready"


def test_a_status_poll_that_never_answers_does_not_freeze_the_page(
    chromium: str, replica: ReplicaProcess, tmp_path: Path
) -> None:
    """A gateway that accepts the poll and never answers (held here in the browser's network
    layer): the poll is abandoned, the page says so, and polling goes on (a fresh request)
    with one timer per poller, not a pile of them."""

    def drive(tools: DevTools, base: str) -> tuple[str, str, int, int]:
        tools.page("Page.addScriptToEvaluateOnNewDocument", source="""
          (() => {
            window.__timers = new Set();
            const set = window.setTimeout, clear = window.clearTimeout;
            window.setTimeout = (f, ms, ...a) => { const id = set(() => {
              window.__timers.delete(id); f(...a); }, ms); window.__timers.add(id); return id; };
            window.clearTimeout = (id) => { window.__timers.delete(id); clear(id); };
          })();
        """)  # fmt: skip
        tools.page("Page.navigate", url=base)
        tools.until("document.querySelectorAll('tr[data-version]').length === 1")
        tools.page("Fetch.enable", patterns=[{"urlPattern": "*/api/status*"}])
        problem = tools.until("!document.getElementById('problem').hidden"
                              " && document.getElementById('problem').textContent")  # fmt: skip
        badge = tools.js("document.getElementById('ready').textContent")
        # The poll after the abandoned one was sent (and is held too).
        held = [e for e in tools.events if e.get("method") == "Fetch.requestPaused"]
        deadline = time.monotonic() + 60
        while len(held) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
            tools.js("1")
            held = [e for e in tools.events if e.get("method") == "Fetch.requestPaused"]
        timers: int = tools.js("window.__timers.size")
        return problem, badge, len(held), timers

    result = with_browser(topology(deployment("fraud", version("v1", 100, replica))),
                          tmp_path / "profile", drive)  # fmt: skip
    problem, badge, held, timers = result
    assert problem == "/api/status: no answer in 10 s"
    assert badge == "no answer"
    assert held >= 2
    # The status, history and lineage pollers, each one timer, and the held poll's timeout.
    assert timers <= 4


def test_a_failed_replica_shows_its_reason_and_an_idle_split_says_so(
    chromium: str, replica: ReplicaProcess, tmp_path: Path
) -> None:
    """Without hovering: a failed replica's reason is written under its chip, and the observed
    split of a deployment with no requests says there were none instead of an empty bar."""
    reason = "exited with status 1: ModuleNotFoundError: No module named 'onnxruntime'"
    v1 = version("v1", 100, replica)
    failed = replace(v1.replicas[0], id="v1-9", state="failed", reason=reason, pid=None)
    topo = topology(deployment("fraud", replace(v1, replicas=(*v1.replicas, failed))))

    def drive(tools: DevTools, base: str) -> tuple[str, str]:
        tools.page("Page.navigate", url=base)
        shown: str = tools.until("document.querySelector('[data-replica=\"v1-9\"]')?.textContent")
        split: str = tools.js("[...document.querySelectorAll('.split')].map(b => b.textContent)"
                              ".join('|')")  # fmt: skip
        return shown, split

    shown, split = with_browser(topo, tmp_path / "profile", drive)
    assert shown == f"v1-9: {reason}"
    assert split == "v1 100.0%|no requests in the last 10 s"


def test_the_page_fits_a_phone_screen(
    chromium: str, vendored: None, replica: ReplicaProcess, tmp_path: Path
) -> None:
    """At 390 px wide the page does not scroll sideways: wide tables scroll in their own box,
    charts shrink to the screen (they used to force the page to about 700 px)."""

    def drive(tools: DevTools, base: str) -> list[int]:
        tools.page("Emulation.setDeviceMetricsOverride", width=390, height=1400,
                   deviceScaleFactor=1, mobile=True)  # fmt: skip
        tools.page("Page.navigate", url=base)
        tools.until("document.querySelectorAll('tr[data-version]').length === 1")
        tools.until("!!document.querySelector('.chart canvas')")
        tools.screenshot(ARTIFACTS / "dashboard-narrow.png")
        widths: list[int] = tools.js(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        return widths

    topo = topology(deployment("fraud", version("v1", 100, replica)))
    scroll_width, client_width = with_browser(topo, tmp_path / "profile", drive)
    assert client_width == 390
    assert scroll_width <= client_width


def test_a_chart_of_the_first_samples_spans_a_minute_not_years(
    chromium: str, vendored: None, replica: ReplicaProcess, tmp_path: Path
) -> None:
    """Just after start (one sample, or a few): the time axis covers at least a minute up to
    the newest sample, in seconds; uPlot alone spread a single point over years (2027, 2028…)."""

    def drive(tools: DevTools, base: str) -> list[float]:
        tools.page("Page.navigate", url=base)
        tools.until("!!document.querySelector('[data-chart=\"replicas\"] canvas')")
        span: list[float] = tools.js(
            "(() => { const x = cards.get('fraud').plots.get('replicas')"
            ".scales.x; return [x.min, x.max, Date.now() / 1000]; })()"
        )
        return span

    topo = topology(deployment("fraud", version("v1", 100, replica)))
    low, high, now = with_browser(topo, tmp_path / "profile", drive)
    assert 60 <= high - low < 3600
    assert abs(high - now) < 600


def test_a_deployment_scaled_to_zero_is_not_shown_broken(
    chromium: str, replica: ReplicaProcess, tmp_path: Path
) -> None:
    """Autoscaled to zero (min_replicas 0, no replica): the gateway's /v2/health/ready says
    ready (its first request starts one), so the page says "scaled to zero" and the header
    "ready", not two red "not ready" badges."""
    scaled = {"deployment": "fraud", "version": "v1", "main": True, "scaled_on": "deployment",
              "actual": 0, "ready": 0, "desired": 0, "reason": "scale_to_zero", "panic": False,
              "stable_wants": 0, "panic_wants": 0, "metric": "concurrency", "value": 0.0,
              "stable": 0.0, "panic_value": 0.0, "idle_s": 400.0, "min_replicas": 0,
              "max_replicas": 2, "cold_start_timeout_s": 60.0, "held": 0,
              "start_failure": None}  # fmt: skip

    def status(gateway: Gateway) -> Callable[[], Mapping[str, object]]:
        return lambda: {**gateway.status(), "autoscaling": [scaled]}

    def drive(tools: DevTools, base: str) -> list[str]:
        tools.page("Page.navigate", url=base)
        tools.until("document.querySelectorAll('tr[data-version]').length === 1")
        badges: list[str] = tools.js(
            "[document.getElementById('ready').textContent,"
            " document.querySelector('.card-head .badge').textContent]"
        )
        return badges

    topo = topology(deployment("fraud", version("v1", 100)))
    assert with_browser(topo, tmp_path / "profile", drive, status) == ["ready", "scaled to zero"]
