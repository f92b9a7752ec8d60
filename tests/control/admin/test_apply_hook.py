"""``POST /admin/apply`` tells ``inferd up``'s autoscaler that the spec changed, so that it
forgets the failed starts of a deployment the apply removed (a deployment added again under
the same name would otherwise start in their backoff)."""

from __future__ import annotations

import asyncio
import http.client
from pathlib import Path
from types import SimpleNamespace
from typing import cast

from inferd.control.admin.api import AdminApi
from inferd.control.apply_plan import Applied
from inferd.control.reconciler import Reconciler
from inferd.control.replicas.supervisor import Supervisor
from inferd.observe.audit import AuditLog
from inferd.spec.model import Spec

from ..conftest import spec_text

TOKEN = "t0ken"


class RecordingReconciler:
    def __init__(self) -> None:
        self.spec: Spec | None = None

    async def apply(self, spec: Spec) -> Applied:
        self.spec = spec
        return Applied([], [])


def post_apply(port: int, body: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        conn.request("POST", "/admin/apply", body.encode(), headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_the_autoscaler_hears_of_each_apply_that_succeeded(tmp_path: Path) -> None:
    reconciler = RecordingReconciler()
    seen: list[Spec | None] = []

    async def scenario() -> None:
        api = AdminApi(
            cast(Reconciler, reconciler),
            cast(Supervisor, SimpleNamespace()),
            TOKEN,
            audit=AuditLog.in_home(tmp_path, "up"),
            applied=lambda: seen.append(reconciler.spec),
        )
        await api.start()
        try:
            ok = spec_text({"v1": ("fraud:v1", 1, 100)})
            assert await asyncio.to_thread(post_apply, api.port, ok) == 200
            assert await asyncio.to_thread(post_apply, api.port, "kind: nonsense") == 400
        finally:
            await api.stop(1.0)

    asyncio.run(scenario())
    assert len(seen) == 1 and seen[0] is not None  # called after the apply, not for a refusal
