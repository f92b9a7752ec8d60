"""The dashboard as on-call uses it, in a real headless Chromium driven over its DevTools pipe.

Each test loads the page from a live gateway in front of a real replica and then reads the
page's DOM and layout while the gateway misbehaves the way gateways do: its status endpoint
fails, or stops answering, or the screen is a phone's (``browser.DevTools`` speaks the DevTools
protocol). Without Chromium the tests skip locally and fail in CI (``CI=true``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import pytest

from inferd.config import StoreSettings
from inferd.control.gateway import Gateway
from inferd.control.replicas.topology import Topology
from inferd.packaging import push
from inferd.store import ModelStore

from .browser import ARTIFACTS, DevTools, chromium, vendored
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


def test_a_restarted_replica_says_how_often_on_its_chip(
    chromium: str, replica: ReplicaProcess, tmp_path: Path
) -> None:
    """A replica its supervisor restarted (it crashed, or was killed for memory) is ready again,
    and its chip says how many restarts without hovering, as inferd ps's RESTARTS column does:
    the one trace on the page of a crash or a crash loop."""
    v1 = version("v1", 100, replica)
    again = replace(v1.replicas[0], id="v1-1", restarts=1)
    looping = replace(v1.replicas[0], id="v1-2", state="starting", restarts=4, pid=None)
    topo = topology(deployment("fraud", replace(v1, replicas=(*v1.replicas, again, looping))))

    def drive(tools: DevTools, base: str) -> list[str]:
        tools.page("Page.navigate", url=base)
        tools.until("document.querySelectorAll('.replica').length === 3")
        chips: list[str] = tools.js("[...document.querySelectorAll('.replica')]"
                                    ".map((chip) => chip.textContent)")  # fmt: skip
        return chips

    assert with_browser(topo, tmp_path / "profile", drive) == [
        "v1-0 ready", "v1-1 ready · 1 restart", "v1-2 starting · 4 restarts",
    ]  # fmt: skip


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


def test_a_long_version_name_does_not_widen_the_page_on_a_phone(
    chromium: str, vendored: None, replica: ReplicaProcess, tmp_path: Path
) -> None:
    """A version named at length (they are in real stacks) is a chart legend's label: at 390 px
    the label wraps inside its chart; uPlot sized each chart to the whole label, and the page
    scrolled sideways by about 40 px."""
    name = "v1-with-a-rather-long-version-name-for-the-eu-region"

    def drive(tools: DevTools, base: str) -> list[int]:
        tools.page("Emulation.setDeviceMetricsOverride", width=390, height=1400,
                   deviceScaleFactor=1, mobile=True)  # fmt: skip
        tools.page("Page.navigate", url=base)
        tools.until("!!document.querySelector('.chart .u-legend .u-series + .u-series')")
        tools.screenshot(ARTIFACTS / "dashboard-narrow-long-name.png")
        widths: list[int] = tools.js(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        return widths

    topo = topology(deployment("fraud", version(name, 100, replica)))
    scroll_width, client_width = with_browser(topo, tmp_path / "profile", drive)
    assert scroll_width <= client_width == 390


def test_charts_follow_a_window_made_narrower(
    chromium: str, vendored: None, replica: ReplicaProcess, tmp_path: Path
) -> None:
    """A desktop window narrowed to a phone's 390 px: the charts are redrawn at the new width
    at once, from the history the page has. They used to keep their width until the next
    history poll (every 5 s; here held in the browser's network layer, so never), and the page
    scrolled sideways meanwhile."""

    def drive(tools: DevTools, base: str) -> list[int]:
        tools.page("Emulation.setDeviceMetricsOverride", width=1280, height=1400,
                   deviceScaleFactor=1, mobile=False)  # fmt: skip
        tools.page("Page.navigate", url=base)
        tools.until("!!document.querySelector('.chart .uplot')")
        tools.page("Fetch.enable", patterns=[{"urlPattern": "*/api/history*"}])
        tools.page("Emulation.setDeviceMetricsOverride", width=390, height=1400,
                   deviceScaleFactor=1, mobile=True)  # fmt: skip
        tools.until("[...document.querySelectorAll('.chart')].every((box) =>"
                    " box.querySelector('.uplot').getBoundingClientRect().right"
                    " <= box.getBoundingClientRect().right + 1)", timeout=20)  # fmt: skip
        widths: list[int] = tools.js(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        return widths

    topo = topology(deployment("fraud", version("v1", 100, replica)))
    scroll_width, client_width = with_browser(topo, tmp_path / "profile", drive)
    assert scroll_width <= client_width == 390


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


def test_each_version_has_one_colour_in_the_table_and_the_charts(
    chromium: str, vendored: None, replica: ReplicaProcess, tmp_path: Path
) -> None:
    """Six versions, one more than the palette: the sixth's swatch in the table and its line in
    the charts have the same colour (the table went round the palette to the first version's
    colour while the chart gave it another, so the legend named the wrong line)."""
    names = [f"v{i}" for i in range(1, 7)]
    topo = topology(deployment("fraud", *(version(name, 10, replica) for name in names)))

    def drive(tools: DevTools, base: str) -> list[list[str]]:
        tools.page("Page.navigate", url=base)
        tools.until(
            "typeof cards !== 'undefined'"
            " && cards.get('fraud')?.plots.get('replicas')?.series.length === 7"
        )
        pairs: list[list[str]] = tools.js("""(() => {
          const ctx = document.createElement('canvas').getContext('2d');
          const css = (colour) => { ctx.fillStyle = colour; return ctx.fillStyle; };
          const plot = cards.get('fraud').plots.get('replicas');
          return [...document.querySelectorAll('tr[data-version] .swatch')].map((swatch, i) => [
            css(getComputedStyle(swatch).backgroundColor),
            css(plot.series[i + 1].stroke(plot, i + 1)),
          ]);
        })()""")  # fmt: skip
        return pairs

    pairs = with_browser(topo, tmp_path / "profile", drive)
    assert len(pairs) == 6 and all(table == chart for table, chart in pairs), pairs
    assert len({table for table, _ in pairs}) == 6


def test_versions_gone_from_the_deployment_keep_colours_of_their_own(
    chromium: str, vendored: None, replica: ReplicaProcess, tmp_path: Path
) -> None:
    """v2 and v3 removed (as a rollout's candidates go once it ends), then the page opened: their
    lines stay in the charts for the hour, each in a colour of its own (both had the colour of
    the next version the deployment would get, so their legends could not be told apart)."""
    full = topology(deployment("fraud", *(version(f"v{i}", 30, replica) for i in (1, 2, 3))))
    fewer = topology(deployment("fraud", version("v1", 100, replica)), generation=2)
    served: list[tuple[Gateway, asyncio.AbstractEventLoop]] = []

    def status(gateway: Gateway) -> Callable[[], Mapping[str, object]]:
        served.append((gateway, asyncio.get_running_loop()))
        return gateway.status

    def drive(tools: DevTools, base: str) -> list[str]:
        tools.page("Page.navigate", url=base)
        charted = (
            "typeof cards !== 'undefined'"
            " && cards.get('fraud')?.plots.get('replicas')?.series.length === 4"
        )
        tools.until(charted)
        gateway, loop = served[0]
        loop.call_soon_threadsafe(gateway.update, fewer)
        tools.until("document.querySelectorAll('tr[data-version]').length === 1")
        tools.page("Page.reload")  # the page opened after the change: its charts drawn anew
        tools.until("document.querySelectorAll('tr[data-version]').length === 1")
        tools.until(charted)
        strokes: list[str] = tools.js("""(() => {
          const plot = cards.get('fraud').plots.get('replicas');
          return plot.series.slice(1).map((s, i) => s.label + ' ' + s.stroke(plot, i + 1));
        })()""")  # fmt: skip
        return strokes

    strokes = with_browser(full, tmp_path / "profile", drive, status)
    assert [line.split()[0] for line in strokes] == ["v1", "v2", "v3"]
    assert len({line.split(" ", 1)[1] for line in strokes}) == 3, strokes


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
