"""The dashboard in a real headless Chromium: rendered content and a screenshot artifact.

The page is loaded from a live gateway in front of real replicas with traffic flowing, so the
numbers it shows are real. The screenshot is kept under test-artifacts/ for people to look at.
Without Chromium the test is skipped locally and fails in CI (``CI=true``).
"""

from __future__ import annotations

import asyncio
import html
import itertools
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from inferd.config import StoreSettings
from inferd.control.gateway.history import HistoryOptions
from inferd.control.replicas.topology import Topology
from inferd.observe.dashboard import SCRIPTS, VENDORED, asset
from inferd.packaging import push
from inferd.store import ModelStore

from .browser import ARTIFACTS, FLAGS, chromium, vendored
from .gateway.conftest import (
    FRAUD_BODY,
    QUICKSTART,
    ROOT,
    ReplicaProcess,
    closed_loop,
    deployment,
    run,
    start_replica,
    started_gateway,
    topology,
    version,
)

# Fixtures, used by name here and imported from here by the other browser tests.
__all__ = ["ARTIFACTS", "chromium", "vendored"]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ReplicaProcess]]:
    """fraud:v1 and fraud:v2, one replica each, over a store of their own."""
    home = tmp_path_factory.mktemp("dashboard") / "home"
    store = ModelStore.from_settings(StoreSettings(home=home))
    push(store, QUICKSTART / "fraud-v1", "fraud:v1")
    push(store, QUICKSTART / "fraud-v2", "fraud:v2")
    started: list[ReplicaProcess] = []
    try:
        started.append(start_replica(home, "fraud:v1"))
        started.append(start_replica(home, "fraud:v2"))
        yield started
    finally:
        for server in started:
            server.stop()


async def browse(chromium: str, url: str, profile: Path, *extra: str) -> str:
    """Run Chromium on ``url`` with ``extra`` flags while the event loop keeps serving."""
    proc = await asyncio.create_subprocess_exec(
        chromium, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=3000", *extra, url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    stdout, _ = await asyncio.wait_for(proc.communicate(), timeout=90)
    assert proc.returncode == 0
    return stdout.decode("utf-8", "replace")


def dashboard_dom(chromium: str, topo: Topology, profile: Path, **document: object) -> str:
    """The dashboard's DOM as Chromium renders it from a gateway routing by ``topo`` whose status
    document has ``document``'s entries (what ``inferd up`` adds: rollouts, autoscaling, …)."""

    async def scenario() -> str:
        gateway = await started_gateway(topo)
        gateway.status_document = lambda: {**gateway.status(), **document}
        try:
            return await browse(chromium, f"http://127.0.0.1:{gateway.port}", profile, "--dump-dom")
        finally:
            await gateway.stop(5)

    return run(scenario)


def row_cells(dom: str, version_name: str) -> list[str]:
    """The text of each cell of a version's row in the rendered table."""
    match = re.search(rf'<tr data-version="{version_name}">(.*?)</tr>', dom, re.S)
    assert match, f"no row for version {version_name}"
    cells = re.findall(r"<td[^>]*>(.*?)</td>", match.group(1), re.S)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in cells]


def test_dashboard_renders_live_status(
    chromium: str, fleet: list[ReplicaProcess], tmp_path: Path
) -> None:
    v1, v2 = fleet
    topo = topology(
        deployment(
            "fraud",
            version("v1", 90, v1),
            version("v2", 10, v2),
            version("v3", 0, v2),
            shadow="v3",
        ),
        generation=7,
    )

    async def scenario() -> tuple[str, Path]:
        gateway = await started_gateway(topo)
        base = f"http://127.0.0.1:{gateway.port}"
        stop = asyncio.Event()
        load = asyncio.create_task(
            closed_loop(f"{base}/v2/models/fraud/infer", FRAUD_BODY, concurrency=2, stop=stop)
        )
        try:
            await asyncio.sleep(1.0)  # let the window fill
            dom = await browse(chromium, base, tmp_path / "profile-dom", "--dump-dom")
            ARTIFACTS.mkdir(exist_ok=True)
            shot = ARTIFACTS / "dashboard.png"
            shot.unlink(missing_ok=True)
            await browse(
                chromium, base, tmp_path / "profile-shot",
                f"--screenshot={shot}", "--window-size=1280,900",
            )  # fmt: skip
            return dom, shot
        finally:
            stop.set()
            await load
            await gateway.stop(5)

    dom, shot = run(scenario)
    assert 'data-deployment="fraud"' in dom
    assert '<b id="generation">7</b>' in dom
    assert 'class="badge ok">ready<' in dom
    v1_cells, v2_cells = row_cells(dom, "v1"), row_cells(dom, "v2")
    # version, role, reference, weight, observed, req/s, errors, p50, p99, replicas
    assert v1_cells[:4] == ["v1", "primary", "fraud:v1", "90%"]
    assert v2_cells[:4] == ["v2", "primary", "fraud:v2", "10%"]
    assert float(v1_cells[5]) > 0  # requests per second, from real traffic
    assert float(v1_cells[7]) > 0  # p50 latency in ms
    assert v1_cells[6] == "0.0%"
    assert "v1-0 ready" in v1_cells[9]
    shadow = row_cells(dom, "v3")
    assert shadow[1:5] == [
        "shadow",
        "fraud:v3",
        "mirror",
        "\u2013",
    ]  # an en dash: no observed share
    assert float(shadow[5]) > 0  # mirrored copies per second
    assert "Shadow comparison" in dom
    assert re.search(r"label: \d+\.\d+% differ", dom)
    assert re.search(r"probabilities: MAD \d", dom)
    assert shot.stat().st_size > 10_000  # a real rendering, not a blank page


def test_dashboard_assets_are_self_contained() -> None:
    """Nothing outside reaches the machines the gateway runs on: no CDN, no remote fonts; the
    charting library is served from the package (fetched by scripts/web-assets, not in git)."""
    from inferd.observe.dashboard import ASSETS

    for path in ASSETS.keys() - VENDORED:
        content, media_type = asset(path)
        text = content.decode("utf-8")
        assert media_type.startswith(b"text/")
        assert not re.search(r"""(https?:)?//[a-z0-9.-]+\.[a-z]{2,}""", text, re.I), path
    page = asset("/")[0].decode()
    assert 'src="/dashboard.js"' in page and 'href="/dashboard.css"' in page
    assert 'src="/vendor/uPlot.iife.min.js"' in page and 'href="/vendor/uPlot.min.css"' in page
    assert {"/vendor/uPlot.iife.min.js", "/vendor/uPlot.min.css"} == VENDORED
    tracked = subprocess.run(
        ["git", "ls-files", "src/inferd/observe/dashboard/static/vendor"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert tracked == "", "the charting library is fetched at install time, never committed"


def test_every_file_the_page_loads_is_served_with_its_type() -> None:
    """Each stylesheet and script index.html names is served by a live gateway with its media
    type, the page's own scripts in the order each needs (dashboard.js, which polls, last)."""
    page = asset("/")[0].decode()
    loads = re.findall(r'<(?:script src|link rel="stylesheet" href)="(/[^"]+)"', page)
    scripts = [path for path in loads if path.endswith(".js") and path not in VENDORED]
    assert scripts == [f"/{name}" for name in SCRIPTS] and scripts[-1] == "/dashboard.js"

    async def scenario() -> dict[str, httpx.Response]:
        gateway = await started_gateway(topology(deployment("fraud", version("v1", 100))))
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.port}") as client:
                return {path: await client.get(path) for path in loads}
        finally:
            await gateway.stop(5)

    for path, answer in run(scenario).items():
        if path in VENDORED and answer.status_code == 404:
            continue  # scripts/web-assets did not run here: test_without_the_charting_library…
        assert answer.status_code == 200, path
        kind = "text/css" if path.endswith(".css") else "text/javascript"
        assert answer.headers["content-type"].startswith(kind), path


def test_dashboard_shows_rollout_progress_and_each_analysis(
    chromium: str, fleet: list[ReplicaProcess], tmp_path: Path
) -> None:
    """A canary at step 2 of 3, with the analysis that advanced it and one that held it."""
    from inferd.control.rollout.analysis import AnalysisPolicy, Observations, TrafficStats, analyse
    from inferd.control.rollout.history import Event
    from inferd.control.rollout.state import Rollout
    from inferd.control.rollout.strategies import Pair
    from inferd.spec.model import DeploymentSpec

    v1, v2 = fleet
    topo = topology(deployment("fraud", version("v1", 75, v1), version("v2", 25, v2)))
    policy = AnalysisPolicy(min_requests=20, max_latency_ratio=2.0)
    base = DeploymentSpec.model_validate(
        {"name": "fraud", "versions": [{"name": "v1", "model": "fraud:v1"},
                                       {"name": "v2", "model": "fraud:v2", "replicas": 1}],
         "traffic": {"weights": {"v1": 100}}}
    )  # fmt: skip
    rollout = Rollout("r-1234", "fraud", "canary", (5, 25, 100), Pair("v1", "v2", {"v1": 100}),
                      policy, 30.0, base, stage=1, candidate_weight=25)  # fmt: skip
    decisions: list[tuple[float, Event]] = [(0.004, "advance"), (0.02, "hold")]
    for stage, (cand_p99, event) in enumerate(decisions, start=1):
        obs = Observations(TrafficStats(40, 0, 0.002, cand_p99), TrafficStats(400, 0, 0.002, 0.004))
        rollout.stage = stage - 1  # the stage each decision was taken at (ends at 1)
        rollout.remember(rollout.record(event, analyse(policy, obs), obs))

    dom = dashboard_dom(chromium, topo, tmp_path / "profile", rollouts=[rollout.status()])
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", dom)).split())
    assert "Rollout r-1234" in text
    assert "canary: v1 → v2" in text and "25% to the candidate" in text
    assert re.search(r'class="step done">5%<', dom)
    assert re.search(r'class="step current">25%<', dom)
    assert 'data-event="hold"' in dom and 'data-event="advance"' in dom
    assert "latency_p99_ratio 5 above limit 2" in text
    assert "40 req · 0.0% errors · p99 20.0 ms" in text

    # Rolled back at that step: it is marked where it stopped, not outlined as in progress.
    rollout.phase, rollout.candidate_weight = "rolled_back", 0
    dom = dashboard_dom(chromium, topo, tmp_path / "profile-2", rollouts=[rollout.status()])
    assert re.findall(r'<span class="(step[^"]*)">', dom) == ["step done", "step stopped", "step"]


def test_the_gateway_samples_traffic_into_its_history(fleet: list[ReplicaProcess]) -> None:
    """Real replicas, real traffic, sampled every 0.2 s: what /api/history and /api/lineage
    serve (the charts and the lineage panel draw them)."""
    v1, v2 = fleet
    topo = topology(deployment("fraud", version("v1", 90, v1), version("v2", 10, v2)))

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], httpx.Response]:
        options = HistoryOptions(interval_s=0.2, span_s=60)
        gateway = await started_gateway(topo, history=options)
        base = f"http://127.0.0.1:{gateway.port}"
        stop = asyncio.Event()
        load = asyncio.create_task(
            closed_loop(f"{base}/v2/models/fraud/infer", FRAUD_BODY, concurrency=2, stop=stop)
        )
        try:
            async with httpx.AsyncClient() as client:
                while len((await client.get(f"{base}/api/history")).json()["times"]) < 6:
                    await asyncio.sleep(0.2)
                history = (await client.get(f"{base}/api/history")).json()
                lineage = (await client.get(f"{base}/api/lineage")).json()
                vendor = await client.get(f"{base}/vendor/uPlot.iife.min.js")
            return history, lineage, vendor
        finally:
            stop.set()
            await load
            await gateway.stop(5)

    history, lineage, vendor = run(scenario)
    times = history["times"]
    assert history["interval_s"] == 0.2 and history["span_s"] == 60
    assert all(round(b - a, 3) == 0.2 for a, b in itertools.pairwise(times)), times
    series = {(s["version"], s["metric"]): s["values"] for s in history["series"]}
    assert all(len(values) == len(times) for values in series.values())
    assert max(v or 0 for v in series[("v1", "rps")]) > 0
    assert max(v or 0 for v in series[("v1", "p99_ms")]) > 0
    assert set(series[("v1", "replicas")]) <= {None, 1.0} and 1.0 in series[("v1", "replicas")]
    assert any(v is not None and v >= 1 for v in series[("v1", "batch_size")])
    assert lineage["store"] is False  # a bare gateway has no store; inferd up gives it one
    assert [v["version"] for v in lineage["deployments"][0]["versions"]] == ["v1", "v2"]
    if vendor.status_code == 200:  # fetched by scripts/web-assets (make venv)
        assert vendor.content.startswith(b"/*! https://github.com/leeoniya/uPlot")
        assert vendor.headers["content-type"].startswith("text/javascript")
    else:
        assert vendor.status_code == 404 and "scripts/web-assets" in vendor.text


def test_without_the_charting_library_the_tables_still_work(
    chromium: str,
    fleet: list[ReplicaProcess],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A checkout where scripts/web-assets never ran: the library is a 404 that names the
    script, the page says so in one line, and the tables are drawn as before."""
    from inferd.observe.dashboard import ASSETS

    for path in VENDORED:
        monkeypatch.setitem(ASSETS, path, ("vendor/not-fetched", ASSETS[path][1]))
    asset.cache_clear()
    v1, _ = fleet
    topo = topology(deployment("fraud", version("v1", 100, v1)))

    async def scenario() -> tuple[str, httpx.Response]:
        gateway = await started_gateway(topo)
        base = f"http://127.0.0.1:{gateway.port}"
        try:
            async with httpx.AsyncClient() as client:
                missing = await client.get(f"{base}/vendor/uPlot.iife.min.js")
            return await browse(chromium, base, tmp_path / "profile", "--dump-dom"), missing
        finally:
            await gateway.stop(5)

    try:
        dom, missing = run(scenario)
    finally:
        asset.cache_clear()
    assert missing.status_code == 404
    assert "/vendor/uPlot.iife.min.js is not installed: run scripts/web-assets" in missing.text
    note = re.search(r'<p id="charts-note"([^>]*)>(.*?)</p>', dom, re.S)
    assert note and "hidden" not in note.group(1)
    assert "scripts/web-assets" in note.group(2)
    assert row_cells(dom, "v1")[:4] == ["v1", "primary", "fraud:v1", "100%"]
    assert "<canvas" not in dom


def chart_box(dom: str, key: str) -> tuple[dict[str, str], str]:
    """The attributes and the title of chart ``key``, which must hold a canvas."""
    match = re.search(rf'<div class="chart" data-chart="{re.escape(key)}"([^>]*)><h4>([^<]*)</h4>'
                      r"(.*?)</table>", dom, re.S)  # fmt: skip
    assert match, f"no chart {key}"
    assert "<canvas" in match.group(3), f"chart {key} has no canvas"
    return dict(re.findall(r'([\w-]+)="([^"]*)"', match.group(1))), match.group(2)


def test_cost_is_charted_when_the_status_has_it(
    chromium: str, vendored: None, fleet: list[ReplicaProcess], tmp_path: Path
) -> None:
    """The status document's cost section (under inferd up, with prices in the spec): cost per
    1,000 predictions and the idle share, per version, titled with the currency."""
    v1, _ = fleet
    topo = topology(deployment("fraud", version("v1", 100, v1)))
    row = {"deployment": "fraud", "version": "v1", "replicas": 1.0, "held": 0.02, "idle": 0.005,
           "idle_share": 0.25, "predictions": 4000, "per_1k_predictions": 0.005,
           "per_1m_tokens": None, "saved_scale_to_zero": 0.0}  # fmt: skip
    cost = {"currency": "EUR", "window_s": 300.0, "versions": [row],
            "total": {"held": 0.02, "idle": 0.005, "per_1k_predictions": 0.005}}  # fmt: skip

    async def scenario() -> str:
        gateway = await started_gateway(topo, history=HistoryOptions(interval_s=0.2, span_s=60))
        gateway.status_document = lambda: {**gateway.status(), "cost": cost}
        base = f"http://127.0.0.1:{gateway.port}"
        try:
            async with httpx.AsyncClient() as client:
                while len((await client.get(f"{base}/api/history")).json()["times"]) < 3:
                    await asyncio.sleep(0.2)
            return await browse(chromium, base, tmp_path / "profile", "--dump-dom")
        finally:
            await gateway.stop(5)

    dom = run(scenario)
    per_1k, title = chart_box(dom, "cost_per_1k")
    assert title == "cost per 1k predictions (EUR)"
    assert per_1k["data-series"] == "v1" and int(per_1k["data-points"]) >= 3
    idle, title = chart_box(dom, "idle_share")
    assert title == "idle share of replica time" and int(idle["data-drawn"]) >= 3
