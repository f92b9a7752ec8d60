"""``gateway.drain_timeout`` changed by an apply holds for the replicas already running.

A replica retired after the apply drains for the applied value, not for the one in force when
it started: real ``inferd serve`` replicas, a request held in flight on one (its body still
arriving) while an apply replaces it.
"""

from __future__ import annotations

import asyncio
import http.client
from pathlib import Path

import httpx
import pytest

from inferd.control.reconciler import Reconciler
from inferd.control.replicas.supervisor import Supervisor
from inferd.spec.loading import parse_spec

from ..conftest import FRAUD_BODY, fraud_store, spec_text

pytestmark = pytest.mark.slow

PATH = "/v2/models/fraud/infer"


def _answer(connection: http.client.HTTPConnection) -> str:
    """The status of the answer to the request sent, or how the connection failed."""
    try:
        response = connection.getresponse()
        response.read()
    except OSError as exc:  # reset, or closed without an answer
        return type(exc).__name__
    return str(response.status)


async def _until_draining(port: int) -> None:
    """Until the replica on ``port`` has begun its drain (readiness 503) or is gone."""
    async with httpx.AsyncClient(timeout=5, trust_env=False) as client:
        for _ in range(600):
            try:
                response = await client.get(f"http://127.0.0.1:{port}/v2/health/ready")
            except httpx.TransportError:
                return
            if response.status_code == 503:
                return
            await asyncio.sleep(0.1)
    raise AssertionError("the retired replica never began to drain")


def test_a_replica_retired_after_an_apply_drains_for_the_applied_drain_timeout(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"

    async def main() -> str:
        supervisor = Supervisor()
        reconciler = Reconciler(
            supervisor, fraud_store(home), home / "up", settle_s=0.2, ready_timeout_s=60
        )
        try:
            # Started with no drain at all, then given 60 s by an apply that changes only that.
            await reconciler.apply(parse_spec(spec_text({"v1": ("fraud:v1", 1, 100)}, drain="0s")))
            applied = await reconciler.apply(
                parse_spec(spec_text({"v1": ("fraud:v1", 1, 100)}, drain="60s"))
            )
            assert applied.settings == ["gateway.drain_timeout"]
            assert [c.action for c in applied.changes] == ["keep"]
            (old,) = supervisor.replicas()
            held = http.client.HTTPConnection("127.0.0.1", old.port, timeout=30)
            try:
                # One request answered (the replica serves this connection), then one in flight.
                held.request("POST", PATH, FRAUD_BODY, {"Content-Type": "application/json"})
                assert _answer(held) == "200", "not served before the stop"
                held.putrequest("POST", PATH)
                held.putheader("Content-Type", "application/json")
                held.putheader("Content-Length", str(len(FRAUD_BODY)))
                held.endheaders()
                held.send(FRAUD_BODY[:10])
                replacing = asyncio.ensure_future(
                    reconciler.apply(
                        parse_spec(spec_text({"v1": ("fraud:v2", 1, 100)}, drain="60s"))
                    )
                )
                await _until_draining(old.port)
                assert not replacing.done()
                held.send(FRAUD_BODY[10:])
                status = await asyncio.to_thread(_answer, held)
            finally:
                held.close()
            await replacing
            return status
        finally:
            await reconciler.shutdown(10)

    assert asyncio.run(main()) == "200"
