"""A replica says when its last process exited (reaped), and the supervisor keeps the
replicas it retired for a while, stopped, with that time: cost charged a process only up to
its last sample before the exit (every 5 s), missing the seconds after."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from inferd.control.reconciler import Reconciler
from inferd.control.replicas.supervisor import Supervisor
from inferd.control.replicas.topology import Replica
from inferd.spec.loading import parse_spec

from ..conftest import fraud_store, spec_text

pytestmark = pytest.mark.slow


def test_a_crash_and_a_retirement_record_when_the_process_exited(tmp_path: Path) -> None:
    async def main() -> tuple[float, Replica, float, list[Replica], float]:
        supervisor = Supervisor()
        home = tmp_path / "home"
        reconciler = Reconciler(
            supervisor, fraud_store(home), home / "up", settle_s=0.2, ready_timeout_s=60
        )
        try:
            await reconciler.apply(parse_spec(spec_text({"v1": ("fraud:v1", 1, 100)})))
            (process,) = supervisor.replicas()
            assert process.pid is not None and process.snapshot().exited_at is None
            killed = time.time()
            os.kill(process.pid, signal.SIGKILL)
            async with asyncio.timeout(30):
                while process.state != "ready" or process.snapshot().exited_at is None:
                    await asyncio.sleep(0.05)
            restarted = process.snapshot()
            before_retire = time.time()
            await reconciler.apply(parse_spec(spec_text({"v2": ("fraud:v2", 1, 100)})))
            after_retire = time.time()
            return killed, restarted, before_retire, supervisor.gone(), after_retire
        finally:
            await reconciler.shutdown(10)

    killed, restarted, before_retire, gone, after_retire = asyncio.run(main())
    assert restarted.exited_at is not None and restarted.started_at is not None
    assert killed <= restarted.exited_at <= restarted.started_at
    (retired,) = [r for r in gone if r.version == "v1"]
    assert retired.state == "stopped" and retired.pid is None
    assert retired.exited_at is not None
    assert before_retire <= retired.exited_at <= after_retire
