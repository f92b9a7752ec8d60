"""A replica that keeps dying says so in its reason (what ``inferd ps`` shows after
``failed``): how many times in a row, and the back-off before its next restart, as Kubernetes
shows CrashLoopBackOff. It used to read ``killed by SIGKILL`` alone whether it died once or
five times in a row, the growing back-off only in ``inferd up``'s log."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from inferd.control.replicas.topology import Topology

from ..conftest import fraud_store, spec_text
from .conftest import one_replica

pytestmark = pytest.mark.slow

#: A bound on waiting for the outcome (not a timing assertion): the machine is shared.
PATIENCE_S = 120


def _failed(seen: list[Topology]) -> list[str]:
    return [
        r.reason or "" for t in seen for d in t.deployments.values() for v in d.versions
        for r in v.replicas if r.state == "failed"
    ]  # fmt: skip


def test_a_replica_killed_again_and_again_shows_its_back_off(tmp_path: Path) -> None:
    home = tmp_path / "home"
    seen: list[Topology] = []

    async def main() -> None:
        spec = spec_text({"v1": ("fraud:v1", 1, 100)})
        async with one_replica(fraud_store(home), home, spec, seen) as replica:
            killed: set[int] = set()
            began = time.monotonic()
            while len(killed) < 2:
                assert time.monotonic() - began < PATIENCE_S, replica.reason
                pid = replica.pid
                if pid is not None and pid not in killed and replica.state == "ready":
                    os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
                await asyncio.sleep(0.05)
            while not any("in a row" in r for r in _failed(seen)):
                assert time.monotonic() - began < PATIENCE_S, replica.reason
                await asyncio.sleep(0.05)

    asyncio.run(main())
    reasons = _failed(seen)
    assert reasons[0] == "killed by SIGKILL", reasons
    looping = [r for r in reasons if "in a row" in r]
    assert looping[0] == (
        "killed by SIGKILL (2 failures in a row: back-off 1.0 s before restarting)"
    ), reasons
