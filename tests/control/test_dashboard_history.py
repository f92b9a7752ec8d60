"""The dashboard's charts over time, end to end: a real ``inferd up`` (sampling every 0.5 s),
real replicas and traffic, a canary rollout and a tag move, drawn by uPlot in headless Chromium.

Asserted on the rendered DOM: every chart the stack should have is there with a canvas, its
series named, its data points counted and drawn by uPlot (``data-drawn``), the rollout steps and
the tag move listed as chart events, the lineage panel showing the moved tag. The screenshot is
kept in test-artifacts/dashboard-history.png. ``bench/dashboard_history.py`` makes the
hour-long one, after the bursty scenario.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from inferd.packaging import push

from .conftest import QUICKSTART, UpProcess, fraud_store, start_up
from .gateway.conftest import run
from .rollout.conftest import RandomLoad
from .rollout.test_rollout_e2e import rollout, wait_finished
from .test_dashboard import ARTIFACTS, browse, chart_box, chromium, vendored

__all__ = ["chromium", "vendored"]  # fixtures, used by name
pytestmark = pytest.mark.slow

SPEC = """apiVersion: inferd.dev/v1
kind: Stack
gateway: {port: 0, drain_timeout: 10s}
deployments:
  - name: fraud
    versions:
      - {name: v1, model: "fraud:v1", replicas: 1}
      - {name: v2, model: "fraud:profiled", replicas: 1}
      - {name: v3, model: "fraud:v2", replicas: 1}
    batching: {max_batch_size: 8, max_queue_delay_ms: 2}
    traffic:
      weights: {v1: 100, v2: 0}
      shadow: v3
    rollout:
      strategy: canary
      steps: [20, 50, 100]
      interval: 1s
      analysis: {max_error_rate: 0.01, min_requests: 20}
"""


def history(up: UpProcess) -> dict[str, Any]:
    answer = httpx.get(f"http://127.0.0.1:{up.gateway_port}/api/history", timeout=10)
    answer.raise_for_status()
    return dict(answer.json())


def test_charts_render_with_data_after_traffic_a_rollout_and_a_tag_move(
    chromium: str, vendored: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    store = fraud_store(home)
    rows = np.random.default_rng(3).random((5_000, 8)) + 0.5  # the load is uniform in [0, 1)
    np.save(tmp_path / "reference.npy", rows)
    push(
        store, QUICKSTART / "fraud-v2", "fraud:profiled", reference_data=tmp_path / "reference.npy"
    )
    (tmp_path / "inferd.yaml").write_text(SPEC)
    monkeypatch.setenv("INFERD_HISTORY_INTERVAL", "0.5")
    up = start_up(home, tmp_path / "inferd.yaml")
    try:
        with RandomLoad(up.gateway_port):
            time.sleep(3)
            rollout(up, "start")
            assert wait_finished(up, timeout=90)["phase"] == "promoted"
            up.cli("tag", "fraud:v1", "fraud:production")
            deadline = time.monotonic() + 60
            while True:
                doc = history(up)
                kinds = {e["kind"] for e in doc["events"]}
                metrics = {s["metric"] for s in doc["series"]}
                if kinds == {"rollout", "alias"} and "drift_psi" in metrics:
                    break
                assert time.monotonic() < deadline, (kinds, metrics)
                time.sleep(0.5)
            base = f"http://127.0.0.1:{up.gateway_port}"
            dom = run(lambda: browse(chromium, base, tmp_path / "profile-dom", "--dump-dom"))
            ARTIFACTS.mkdir(exist_ok=True)
            shot = ARTIFACTS / "dashboard-history.png"
            shot.unlink(missing_ok=True)
            run(
                lambda: browse(
                    chromium,
                    base,
                    tmp_path / "profile-shot",
                    f"--screenshot={shot}",
                    "--window-size=1400,2400",
                )
            )
    finally:
        assert up.stop() == 0

    rps, _ = chart_box(dom, "rps")
    assert rps["data-series"] == "v1,v2,v3"
    assert int(rps["data-points"]) > 20 and int(rps["data-drawn"]) > 10
    for key in ("error_rate", "p99_ms", "replicas", "batch_size", "divergence_mad"):
        box, _ = chart_box(dom, key)
        assert int(box["data-points"]) > 0 and int(box["data-drawn"]) > 0, (key, box)
    drift, title = chart_box(dom, "drift_psi:v2")  # the profiled version; no other has a profile
    assert title == "input drift PSI · v2"
    assert drift["data-series"].startswith("input[") and int(drift["data-points"]) > 0
    events = re.findall(r'<li class="event-(\w+)" data-kind="\w+">(.*?)</li>', dom)
    texts = [text for _, text in events]
    assert any("canary v1 → v2 started at 20%" in t for t in texts), texts
    assert any("step 2: v2 at 50%" in t for t in texts), texts
    assert any("v2 promoted" in t for t in texts), texts
    assert any(kind == "alias" and "fraud:production → sha256:" in t for kind, t in events)
    assert 'data-tag="production"' in dom  # the lineage panel lists the moved tag
    assert re.search(r'<p id="charts-note"[^>]*hidden', dom)
    assert shot.stat().st_size > 50_000
