"""A real ``inferd up`` killed with SIGKILL while the rollout of an alias move runs, then started
again on the same store and file: its replicas die with it, and the restart ends the rollout in
its history (an ``abort`` saying the process was killed) and serves the stable version, the
alias moved back, where it used to serve the unchecked candidate to everyone."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from inferd.control.rollout.history import RolloutHistory
from inferd.control.rollout.recovery import KILLED

from ..conftest import fraud_store, start_up

pytestmark = pytest.mark.slow

FOLLOWS_PRODUCTION = """apiVersion: inferd.dev/v1
kind: Stack
gateway: {port: 0, drain_timeout: 10s}
deployments:
  - name: fraud
    versions:
      - {name: v1, model: "fraud:production", replicas: 1}
    rollout: {steps: [20, 50, 100], interval: 1m}
"""


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] == "Z"


def test_a_restart_after_a_kill_mid_rollout_serves_the_stable_version(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = fraud_store(home)
    v1 = store.resolve("fraud:v1").digest
    store.tag("fraud:v1", "fraud:production")
    spec = tmp_path / "inferd.yaml"
    spec.write_text(FOLLOWS_PRODUCTION)
    history = RolloutHistory(home)
    up = start_up(home, spec)
    try:
        store.tag("fraud:v2", "fraud:production")
        deadline = time.monotonic() + 60
        while not [d for d in history.read("fraud") if d["event"] == "start"]:
            assert time.monotonic() < deadline, up.log.read_text()
            time.sleep(0.2)
        replicas = [int(str(r["pid"])) for r in up.ps()["replicas"]]  # type: ignore[attr-defined]
        assert len(replicas) == 2  # v1 and the candidate v1-next
    finally:
        up.proc.kill()
        up.proc.wait()
    deadline = time.monotonic() + 30
    while not all(gone(pid) for pid in replicas):  # the parent-death signal drains them
        assert time.monotonic() < deadline, "replicas outlived their killed inferd up"
        time.sleep(0.2)

    again = start_up(home, spec)
    try:
        (started,) = [d for d in history.read("fraud") if d["event"] == "start"]
        last = history.read("fraud")[-1]
        assert (last["rollout"], last["event"]) == (started["rollout"], "abort")
        assert last.get("reason", "").startswith(f"{KILLED}; the restart serves the stable")
        assert last.get("reverted") == "fraud:production"
        assert store.resolve("fraud:production").digest == v1
        assert f"rollout {started['rollout']} was under way when inferd up was killed" in (
            again.log.read_text()
        )
        text = again.cli("rollout", "history", "fraud").stdout
        assert "abort step 1 candidate 20%: inferd up was killed mid-rollout" in text
        (replica,) = again.ps()["replicas"]  # type: ignore[misc]
        assert replica["version"] == "v1"
    finally:
        assert again.stop() == 0
