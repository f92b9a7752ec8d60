"""A replica that stops answering at all (hung: a deadlock, a blocked event loop; here SIGSTOP)
is killed and restarted, as Kubernetes' liveness probe would restart its pod (RELIABILITY R4).
It used to stay "starting (readiness probe failing)" for ever, its capacity lost until someone
noticed. A replica that answers, even 503, is alive and is left alone."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from inferd.control.reconciler import Reconciler
from inferd.control.replicas import replica as replica_module
from inferd.spec.loading import parse_spec

from ..conftest import spec_text
from .test_supervisor import Watch, _alive, _run, _served_version

pytestmark = pytest.mark.slow


def test_a_hung_replica_is_killed_and_restarted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Three silent probes (each up to PROBE_TIMEOUT_S) rather than the default's ten.
    monkeypatch.setattr(replica_module, "LIVENESS_THRESHOLD", 3)

    async def body(reconciler: Reconciler, watch: Watch) -> None:
        await reconciler.apply(parse_spec(spec_text({"v1": ("fraud:v1", 1, 100)})))
        ((victim, pid, _),) = watch.replicas("v1")
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        try:
            stopped_at = time.monotonic()
            while True:
                await asyncio.sleep(0.1)
                ((_, now, state),) = watch.replicas("v1")
                if state == "ready" and now not in (None, pid):
                    break
                assert time.monotonic() - stopped_at < 60, (now, state)
        finally:
            if _alive(pid):
                os.kill(pid, signal.SIGCONT)
        assert not _alive(pid), "the hung process was left running"
        route = watch.last.deployments["fraud"].version("v1")
        assert route is not None
        (replica,) = route.replicas
        assert replica.restarts == 1
        reasons = {
            r.reason for t in watch.seen for d in t.deployments.values() for v in d.versions
            for r in v.replicas if r.id == victim and r.state == "failed"
        }  # fmt: skip
        assert any(r is not None and "health probes" in r for r in reasons), reasons
        assert await _served_version(replica.port) == "v1"

    _run(tmp_path / "home", body)
