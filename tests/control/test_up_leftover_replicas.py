"""``inferd up`` killed (SIGKILL, the OOM killer) leaves its replicas to the parent-death
signal: SIGTERM, and a drain bounded only by a day. A replica that does not end on it (hung,
stopped, a request stuck in its model) used to outlive every restart, holding its memory (or
GPU) with nothing naming it. The next ``inferd up`` of the store now finds the replicas an
earlier one left, says so, and stops them (SIGKILL after the drain timeout) before it starts
its own."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from .conftest import fraud_store, spec_text, start_up

pytestmark = pytest.mark.slow


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def test_a_replica_left_by_a_killed_up_is_stopped_by_the_next(tmp_path: Path) -> None:
    home = tmp_path / "home"
    fraud_store(home)
    spec = tmp_path / "inferd.yaml"
    spec.write_text(spec_text({"v1": ("fraud:v1", 1, 100)}, drain="2s"))
    up = start_up(home, spec)
    (replica,) = up.ps()["replicas"]  # type: ignore[misc]
    pid = int(replica["pid"])
    try:
        os.kill(pid, signal.SIGSTOP)  # hung: the parent-death SIGTERM stays pending
        up.proc.kill()
        up.proc.wait()

        again = start_up(home, spec)
        try:
            assert not alive(pid), again.log.read_text()
            text = again.log.read_text()
            assert f"replica processes an earlier inferd up of this store left: {pid}" in text
            (new,) = again.ps()["replicas"]  # type: ignore[misc]
            assert new["state"] == "ready"
        finally:
            assert again.stop() == 0
    finally:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
