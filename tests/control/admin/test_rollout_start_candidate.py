"""``AdminClient.rollout_start`` sends the candidate it is given, an empty one included.

It sent no candidate for ``""``, which the admin API takes for "the one other version": a
caller that named a version by a variable left unset (``candidate=os.environ.get(...)``
read ``""``) rolled out a version it never named. Only the CLI refused ``""``; now the admin
API hears it and refuses it as a bad argument (400, naming the field), and no rollout starts.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from inferd.control.admin.api import AdminApi
from inferd.control.admin.client import AdminClient
from inferd.control.gateway.metrics import GatewayMetrics
from inferd.control.reconciler import Reconciler
from inferd.control.replicas.supervisor import Supervisor
from inferd.control.rollout.controller import RolloutController
from inferd.control.rollout.history import RolloutHistory
from inferd.control.up_state import UpState, write_state
from inferd.errors import InferdError, InvalidArgument
from inferd.observe.audit import AuditLog
from inferd.store import ModelStore

from ..rollout.test_controller import SpecOnly, spec
from .test_apply_hook import TOKEN


def test_an_empty_candidate_reaches_the_admin_api_and_starts_nothing(tmp_path: Path) -> None:
    reconciler = SpecOnly(spec("{steps: [50, 100], interval: 1m}"))
    rollouts = RolloutController(
        cast(Reconciler, reconciler),
        cast(ModelStore, None),
        GatewayMetrics().reading,
        RolloutHistory(tmp_path),
    )

    async def scenario() -> str:
        api = AdminApi(
            cast(Reconciler, reconciler),
            cast(Supervisor, SimpleNamespace()),
            TOKEN,
            rollouts=rollouts,
            audit=AuditLog.in_home(tmp_path, "up"),
        )
        await api.start()
        state = UpState(os.getpid(), "127.0.0.1", api.port, "", "", time.time())
        write_state(tmp_path, state, TOKEN)
        try:
            client = AdminClient(tmp_path)
            with pytest.raises(InferdError) as refused:
                await asyncio.to_thread(client.rollout_start, "fraud", "")
            assert rollouts.active("fraud") is None  # the default candidate (v2) was not started
            assert isinstance(refused.value, InvalidArgument), refused.value
            return refused.value.message
        finally:
            await rollouts.stop()
            await api.stop(1.0)

    assert "'candidate' is empty" in asyncio.run(scenario())
