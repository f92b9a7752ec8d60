"""Which replicas a scale-down retires: those not ready first (as Kubernetes' ReplicaSet ranks
them), then the newest. Real ``inferd serve`` replicas; one is frozen (SIGSTOP) so that it
fails its readiness probes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

import pytest

from inferd.control.reconciler import Reconciler
from inferd.control.replicas.supervisor import Supervisor
from inferd.spec.loading import parse_spec

from ..conftest import fraud_store, spec_text

pytestmark = pytest.mark.slow


def test_a_scale_down_retires_a_replica_that_is_not_ready_before_a_ready_one(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"

    async def main() -> tuple[list[str], list[str], str]:
        supervisor = Supervisor()
        reconciler = Reconciler(
            supervisor, fraud_store(home), home / "up", settle_s=0.2, ready_timeout_s=60
        )
        frozen: int | None = None
        try:
            await reconciler.apply(parse_spec(spec_text({"v1": ("fraud:v1", 2, 100)}, drain="1s")))
            oldest, newest = supervisor.replicas()
            frozen = oldest.pid
            assert frozen is not None
            os.kill(frozen, signal.SIGSTOP)  # the oldest stops answering its probes
            for _ in range(600):
                if oldest.state != "ready":
                    break
                await asyncio.sleep(0.1)
            assert oldest.state != "ready", "the frozen replica still looks ready"
            await reconciler.apply(parse_spec(spec_text({"v1": ("fraud:v1", 1, 100)}, drain="1s")))
            kept = [r.id for r in supervisor.replicas()]
            route = supervisor.topology.deployments["fraud"].version("v1")
            assert route is not None
            return kept, [r.id for r in route.replicas if r.state == "ready"], newest.id
        finally:
            if frozen is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(frozen, signal.SIGCONT)
            await reconciler.shutdown(5)

    kept, routed_ready, newest = asyncio.run(main())
    assert kept == [newest]  # the ready one stays, the frozen one went
    assert routed_ready == [newest]  # and serves
