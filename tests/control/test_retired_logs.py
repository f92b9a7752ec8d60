"""The logs of retired replicas are bounded: each replica writes ``up/logs/<replica>.log``
under a name of its own (``fraud-v1-1``, ``-2``…, never reused in a run), and the files of
replicas an apply or the autoscaler retired were never deleted — an ``inferd up`` that scales
up and down for weeks piled up a file per replica it ever started. The last few retired
replicas' logs are kept (the one an apply just gave up on says why), older ones deleted, as
Kubernetes keeps the logs of a pod's last dead container only."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from inferd.control.reconciler import Reconciler
from inferd.control.replicas.supervisor import Supervisor
from inferd.spec.loading import parse_spec

from .conftest import fraud_store, spec_text

pytestmark = pytest.mark.slow


def test_only_the_last_retired_replicas_logs_are_kept(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = fraud_store(home)
    logs = home / "up" / "logs"

    async def main() -> list[str]:
        supervisor = Supervisor(retired_logs_kept=1)
        reconciler = Reconciler(supervisor, store, home / "up", settle_s=0.1, ready_timeout_s=60)
        try:
            for replicas in (2, 1, 2, 1):  # retires fraud-v1-2, then fraud-v1-3
                await reconciler.apply(parse_spec(spec_text({"v1": ("fraud:v1", replicas, 100)})))
            return [r.id for r in supervisor.replicas()]
        finally:
            await reconciler.shutdown(5)

    running = asyncio.run(main())
    assert running == ["fraud-v1-1"]
    # fraud-v1-2's was deleted when fraud-v1-3 retired; a stop keeps its replicas' logs.
    assert sorted(p.name for p in logs.iterdir()) == ["fraud-v1-1.log", "fraud-v1-3.log"]
