"""The dashboard in a real headless Chromium: rendered content and a screenshot artifact.

The page is loaded from a live gateway in front of real replicas with traffic flowing, so the
numbers it shows are real. The screenshot is kept under test-artifacts/ for people to look at.
Without Chromium the test is skipped locally and fails in CI (``CI=true``).
"""

from __future__ import annotations

import asyncio
import html
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from inferd.config import StoreSettings
from inferd.packaging import push
from inferd.store import ModelStore

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
    """Nothing outside reaches the machines the gateway runs on: no CDN, no remote fonts."""
    from inferd.observe.dashboard import ASSETS, asset

    for path in ASSETS:
        content, media_type = asset(path)
        text = content.decode("utf-8")
        assert media_type.startswith(b"text/")
        assert not re.search(r"""(https?:)?//[a-z0-9.-]+\.[a-z]{2,}""", text, re.I), path
    page = asset("/")[0].decode()
    assert 'src="/dashboard.js"' in page and 'href="/dashboard.css"' in page


def test_dashboard_shows_rollout_progress_and_each_analysis(
    chromium: str, fleet: list[ReplicaProcess], tmp_path: Path
) -> None:
    """A canary at step 2 of 3, with the analysis that advanced it and one that held it."""
    from inferd.control.rollout.analysis import AnalysisPolicy, Observations, TrafficStats, analyse
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
    for stage, (cand_p99, event) in enumerate([(0.004, "advance"), (0.02, "hold")], start=1):
        obs = Observations(TrafficStats(40, 0, 0.002, cand_p99), TrafficStats(400, 0, 0.002, 0.004))
        rollout.stage = stage - 1  # the stage each decision was taken at (ends at 1)
        rollout.remember(rollout.record(event, analyse(policy, obs), obs))

    async def scenario() -> str:
        gateway = await started_gateway(topo)
        gateway.status_document = lambda: {**gateway.status(), "rollouts": [rollout.status()]}
        try:
            base = f"http://127.0.0.1:{gateway.port}"
            return await browse(chromium, base, tmp_path / "profile", "--dump-dom")
        finally:
            await gateway.stop(5)

    dom = run(scenario)
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", dom)).split())
    assert "Rollout r-1234" in text
    assert "canary: v1 → v2" in text and "25% to the candidate" in text
    assert re.search(r'class="step done">5%<', dom)
    assert re.search(r'class="step current">25%<', dom)
    assert 'data-event="hold"' in dom and 'data-event="advance"' in dom
    assert "latency_p99_ratio 5 above limit 2" in text
    assert "40 req · 0.0% errors · p99 20.0 ms" in text
