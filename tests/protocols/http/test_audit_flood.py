"""A flood of refused control requests with long paths costs the audit log bounded bytes: a
burst of records for the source (their paths cut), and one count of the rest, not a record
each."""

from __future__ import annotations

from pathlib import Path

import httpx

from inferd.config import LimitSettings
from inferd.observe.audit import REFUSALS_PER_SOURCE, AuditLog, read_audit
from inferd.protocols.http.audited import audited_guard
from inferd.protocols.http.host import HttpLimits
from inferd.protocols.v2.auth import bearer_guard
from inferd.protocols.v2.routes import control_router
from protocols.conftest import TOKEN, FakeDataPlane, _finish, _start

FLOOD = 500


def test_500_unauthenticated_long_paths_cost_a_few_records(tmp_path: Path) -> None:
    audit = AuditLog.in_home(tmp_path, "server")
    dataplane = FakeDataPlane()
    guard = audited_guard(audit, bearer_guard(TOKEN, "127.0.0.1"))
    router = control_router(dataplane, audit)
    running, t = _start(router, HttpLimits.from_settings(LimitSettings()), dataplane, guard)
    try:
        with httpx.Client(base_url=running.url) as client:
            statuses = {client.get("/" + "a" * 7000).status_code for _ in range(FLOOD)}
            auth = {"Authorization": f"Bearer {TOKEN}"}
            loaded = client.post("/v2/repository/models/sum/load", headers=auth, json={})
    finally:
        _finish(running, t)
    assert statuses == {401} and loaded.status_code == 200
    audit.flush()
    records = read_audit(audit.path)
    denied = [r for r in records if r.outcome == "denied"]
    assert sum(r.count for r in denied) == FLOOD
    # A burst recorded per interval the flood spans (normally one), and the count of the rest.
    assert len(denied) <= 3 * (REFUSALS_PER_SOURCE + 1)
    assert denied[0].truncated == ("action", "target") and denied[0].target.endswith("…")
    assert [(r.action, r.outcome) for r in records if r.outcome != "denied"] == [("load", "ok")]
    assert audit.path.stat().st_size < 1_200 * len(records) < 30_000  # 7.1 MB uncapped
