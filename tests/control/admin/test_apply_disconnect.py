"""``POST /admin/apply`` runs to its end when the client goes away (Ctrl-C on ``inferd apply``,
a client timeout): an apply cut off half way would leave the replicas it started running
unrouted, or the ones it retired running, for as long as ``inferd up`` runs. Only ``inferd up``
stopping cuts an apply short (its shutdown stops every replica)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import orjson

from inferd.control.admin.api import AdminApi
from inferd.control.apply_plan import Applied
from inferd.control.reconciler import Reconciler
from inferd.control.replicas.supervisor import Supervisor
from inferd.control.rollout.controller import RolloutController
from inferd.observe.audit import AuditLog
from inferd.spec.model import Spec

from ..conftest import spec_text
from .test_apply_hook import TOKEN

BODY = spec_text({"v1": ("fraud:v1", 1, 100)}).encode()
REQUEST = (
    b"POST /admin/apply HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (TOKEN.encode(), len(BODY), BODY)
)


class Gate:
    """A change that runs until released, saying whether it finished or was cancelled."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.outcome = asyncio.get_running_loop().create_future()

    async def through(self) -> None:
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.outcome.set_result("cancelled")
            raise
        self.outcome.set_result("finished")


class SlowReconciler(Gate):
    async def apply(self, spec: Spec) -> Applied:
        await self.through()
        return Applied([], [])


async def _until(condition: object) -> None:
    for _ in range(500):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


def _api(reconciler: SlowReconciler, home: Path, applied: list[bool]) -> AdminApi:
    return AdminApi(
        cast(Reconciler, reconciler),
        cast(Supervisor, SimpleNamespace()),
        TOKEN,
        audit=AuditLog.in_home(home, "up"),
        applied=lambda: applied.append(True),
    )


def test_an_apply_whose_client_went_away_runs_to_its_end(tmp_path: Path) -> None:
    applied: list[bool] = []

    async def scenario() -> str:
        reconciler = SlowReconciler()
        api = _api(reconciler, tmp_path, applied)
        await api.start()
        try:
            client = socket.create_connection(("127.0.0.1", api.port), timeout=10)
            client.sendall(REQUEST)
            await asyncio.wait_for(reconciler.started.wait(), 10)
            client.close()  # the client goes away while the apply runs
            http = api._http
            assert http is not None
            await _until(lambda: not http.connections)  # the server saw it go
            reconciler.release.set()
            return await asyncio.wait_for(reconciler.outcome, 10)
        finally:
            await api.stop(1.0)

    assert asyncio.run(scenario()) == "finished"
    assert applied == [True]  # the autoscaler heard of it
    (line,) = (tmp_path / "audit.log").read_text().splitlines()
    record = orjson.loads(line)
    assert (record["action"], record["outcome"], record["status"]) == ("apply", "ok", "200")


def test_stopping_the_admin_api_cuts_an_apply_short(tmp_path: Path) -> None:
    async def scenario() -> str:
        reconciler = SlowReconciler()
        api = _api(reconciler, tmp_path, [])
        await api.start()
        client = socket.create_connection(("127.0.0.1", api.port), timeout=10)
        try:
            client.sendall(REQUEST)
            await asyncio.wait_for(reconciler.started.wait(), 10)
            await api.stop(0.1)
            return await asyncio.wait_for(reconciler.outcome, 10)
        finally:
            client.close()

    assert asyncio.run(scenario()) == "cancelled"


class SlowRollouts(Gate):
    async def promote(self, name: str) -> dict[str, str]:
        await self.through()
        return {"deployment": name}


def test_a_rollout_action_whose_client_went_away_runs_to_its_end(tmp_path: Path) -> None:
    """``inferd rollout promote`` cut off half way (Ctrl-C, a client timeout) would leave the
    promotion's routes half published; like an apply, it runs to its end."""

    async def scenario() -> str:
        rollouts = SlowRollouts()
        api = AdminApi(
            cast(Reconciler, SimpleNamespace()),
            cast(Supervisor, SimpleNamespace()),
            TOKEN,
            audit=AuditLog.in_home(tmp_path, "up"),
            rollouts=cast(RolloutController, rollouts),
        )
        await api.start()
        try:
            client = socket.create_connection(("127.0.0.1", api.port), timeout=10)
            client.sendall(
                b"POST /admin/rollouts/fraud/promote HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Authorization: Bearer %s\r\nContent-Length: 0\r\n\r\n" % TOKEN.encode()
            )
            await asyncio.wait_for(rollouts.started.wait(), 10)
            client.close()
            http = api._http
            assert http is not None
            await _until(lambda: not http.connections)
            rollouts.release.set()
            return await asyncio.wait_for(rollouts.outcome, 10)
        finally:
            await api.stop(1.0)

    assert asyncio.run(scenario()) == "finished"
    (line,) = (tmp_path / "audit.log").read_text().splitlines()
    assert orjson.loads(line)["action"] == "rollout.promote"
