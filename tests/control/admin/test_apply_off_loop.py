"""``POST /admin/apply`` parses the spec in a worker thread, not on the event loop that serves
the admin API (a spec's YAML is the client's, and parsing it is CPU work of its size)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from inferd.control.admin import api as admin_api
from inferd.control.admin.api import AdminApi
from inferd.control.reconciler import Reconciler
from inferd.control.replicas.supervisor import Supervisor
from inferd.observe.audit import AuditLog
from inferd.spec.model import Spec

from ..conftest import spec_text
from .test_apply_hook import TOKEN, RecordingReconciler, post_apply


def test_the_spec_is_parsed_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed_on: list[int] = []
    parse = admin_api.parse_spec

    def recording_parse(text: str, name: str) -> Spec:
        parsed_on.append(threading.get_ident())
        return parse(text, name)

    monkeypatch.setattr(admin_api, "parse_spec", recording_parse)
    reconciler = RecordingReconciler()

    async def scenario() -> int:
        api = AdminApi(
            cast(Reconciler, reconciler),
            cast(Supervisor, SimpleNamespace()),
            TOKEN,
            audit=AuditLog.in_home(tmp_path, "up"),
        )
        await api.start()
        try:
            body = spec_text({"v1": ("fraud:v1", 1, 100)})
            assert await asyncio.to_thread(post_apply, api.port, body) == 200
        finally:
            await api.stop(1.0)
        return threading.get_ident()  # the loop's thread

    loop_thread = asyncio.run(scenario())
    assert len(parsed_on) == 1
    assert parsed_on[0] != loop_thread
    assert reconciler.spec is not None
