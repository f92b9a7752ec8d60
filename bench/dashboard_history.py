"""The dashboard's charts after the bursty scenario, as a screenshot: an hour-long chart.

    .venv/bin/python bench/dashboard_history.py [--minutes 60] [--interval 5]
        [--out test-artifacts/dashboard-hour.png]

Runs `inferd up` with the autoscaling stack of bench/autoscale_scenario.py (the heavy model, 0-4
replicas on concurrency 2, scale to zero after 4 s) and replays its bursty phases (quiet, a
burst of 8 clients, a trickle of 1, a burst of 12, silence, one request that cold-starts a
replica) over and over for ``--minutes``. Half way, and again at three quarters, the tag
heavy:production moves (to heavy:v2, then back to heavy:v1): two tag moves marked on the
charts. The gateway samples every ``--interval`` seconds (5, as `inferd up` does by default)
and keeps an hour. At the end the dashboard is loaded in headless Chromium and saved to
``--out``. On a shared machine, run it under `nice -n 19`: the bursts use every core.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from autoscale_scenario import INFERD, PHASES, SPEC, Clients, heavy_model

from inferd.config import StoreSettings
from inferd.control.admin.client import AdminClient
from inferd.control.up_state import read_state
from inferd.packaging import push
from inferd.store import ModelStore

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
         "--disable-background-networking", "--disable-component-update",
         "--disable-sync"]  # fmt: skip


def get_json(port: int, path: str) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        return dict(orjson.loads(conn.getresponse().read()))
    finally:
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="how long to replay")
    parser.add_argument("--interval", type=float, default=5.0, help="history sample, seconds")
    parser.add_argument("--out", type=Path, default=ROOT / "test-artifacts" / "dashboard-hour.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="inferd-dashboard-") as tmp:
        home = Path(tmp) / "home"
        store = ModelStore.from_settings(StoreSettings(home=home))
        push(store, heavy_model(Path(tmp) / "heavy"), "heavy:v1")
        push(store, heavy_model(Path(tmp) / "heavy-v2", size=320), "heavy:v2")
        store.tag("heavy:v1", "heavy:production")
        spec = Path(tmp) / "inferd.yaml"
        spec.write_text(SPEC)
        env = {
            **os.environ,
            "INFERD_HOME": str(home),
            "INFERD_HISTORY_INTERVAL": str(args.interval),
        }
        log_path = Path(tmp) / "up.log"
        log = log_path.open("wb")
        up = subprocess.Popen([*INFERD, "up", str(spec)], env=env, stdout=log, stderr=log)
        try:
            while read_state(home) is None or "status: inferd ps" not in log_path.read_text():
                if up.poll() is not None:
                    raise SystemExit(log_path.read_text())
                time.sleep(0.1)
            port = int(AdminClient(home).state.gateway_url.rsplit(":", 1)[1])
            replay(port, store, args.minutes * 60)
            history = get_json(port, "/api/history")
            times = history["times"]
            span = (times[-1] - times[0]) / 60 if times else 0.0
            print(f"history: {len(times)} samples over {span:.1f} min, "
                  f"{len(history['series'])} series, {len(history['events'])} events")  # fmt: skip
            screenshot(f"http://127.0.0.1:{port}/", args.out, Path(tmp) / "chromium")
            print(f"screenshot: {args.out}")
        finally:
            up.send_signal(signal.SIGTERM)
            up.wait(60)
            log.close()
    return 0


def replay(port: int, store: ModelStore, seconds: float) -> None:
    """The bursty phases, cycle after cycle, for ``seconds``; the tag moves on the way."""
    clients = Clients(port)
    began = time.monotonic()
    moves = [(0.5, "heavy:v2"), (0.75, "heavy:v1")]
    cycle = 0
    while time.monotonic() - began < seconds:
        cycle += 1
        cycle_start = time.monotonic()
        for _, count, phase_s, pause in PHASES:
            clients.pause_s = pause
            clients.set(count)
            time.sleep(phase_s)
            while moves and time.monotonic() - began >= moves[0][0] * seconds:
                store.tag(moves.pop(0)[1], "heavy:production")
        done = clients.window(cycle_start, time.monotonic())
        errors = sum(1 for r in done if r[2] not in (0, 200))
        # A client idle longer than the gateway's header timeout finds its keep-alive connection
        # closed: its next request fails before reaching the gateway (status 0), and it reconnects.
        stale = sum(1 for r in done if r[2] == 0)
        print(f"cycle {cycle:3d}  t={time.monotonic() - began:7.0f} s  requests {len(done):6d}  "
              f"HTTP errors {errors}  stale connections {stale}", flush=True)  # fmt: skip
        with clients._lock:  # an hour of latencies is not needed once counted
            clients.results.clear()
    clients.set(0)
    clients.close()


def screenshot(url: str, out: Path, profile: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=8000",
         f"--screenshot={out}", "--window-size=1400,1500", url],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
