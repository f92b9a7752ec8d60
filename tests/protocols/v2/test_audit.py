"""Every control action leaves an append-only audit record: who, what, and how it ended."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from inferd.observe.audit import AuditLog, Caller, read_audit
from inferd.protocols.http.audited import USER_HEADER, audited_guard
from inferd.protocols.http.host import HttpLimits
from inferd.protocols.v2.auth import bearer_guard
from inferd.protocols.v2.routes import control_router
from protocols.conftest import TEST_LIMITS, TOKEN, FakeDataPlane, Running, _finish, _start


@pytest.fixture
def audited_server(tmp_path: Path) -> Iterator[tuple[Running, Path]]:
    audit = AuditLog.in_home(tmp_path, "server")
    dataplane = FakeDataPlane()
    guard = audited_guard(audit, bearer_guard(TOKEN, "127.0.0.1"))
    running, t = _start(
        control_router(dataplane, audit), HttpLimits.from_settings(TEST_LIMITS), dataplane, guard
    )
    yield running, audit.path
    _finish(running, t)


def test_loads_unloads_and_refusals_are_recorded(audited_server: tuple[Running, Path]) -> None:
    running, path = audited_server
    auth = {"Authorization": f"Bearer {TOKEN}", USER_HEADER: "alice"}
    with httpx.Client(base_url=running.url) as client:
        ok = client.post("/v2/repository/models/sum/load", headers=auth, json={})
        missing = client.post("/v2/repository/models/nope/load", headers=auth, json={})
        gone = client.post("/v2/repository/models/sum/unload", headers=auth)
        denied = client.post("/v2/repository/models/sum/unload")
        client.post("/v2/repository/index", headers=auth)  # a read: not an action
    assert [ok.status_code, missing.status_code, gone.status_code, denied.status_code] == [
        200,
        404,
        200,
        401,
    ]
    records = read_audit(path)
    assert [(r.action, r.target, r.outcome, r.status) for r in records] == [
        ("load", "sum", "ok", "200"),
        ("load", "nope", "error", "404"),
        ("unload", "sum", "ok", "200"),
        ("POST /v2/repository/models/sum/unload", "/v2/repository/models/sum/unload", "denied",
         "401"),
    ]  # fmt: skip
    assert records[0].caller.user == "alice"
    assert records[0].caller.peer.startswith("127.0.0.1:")
    assert "nope" in records[1].detail
    assert {r.plane for r in records} == {"server"}
    assert path.stat().st_mode & 0o777 == 0o600


def test_the_log_is_appended_never_rewritten(tmp_path: Path) -> None:
    audit = AuditLog.in_home(tmp_path, "up")
    path = audit.path
    path.write_bytes(b'{"earlier": "line"}\n')
    audit.record("apply", "inferd.yaml", outcome="ok", status="200", caller=Caller())
    lines = path.read_bytes().splitlines()
    assert lines[0] == b'{"earlier": "line"}'
    assert b'"action":"apply"' in lines[1]
