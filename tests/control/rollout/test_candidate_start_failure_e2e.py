"""A real ``inferd up``: ``inferd rollout start`` of a canary scaled to zero whose model cannot
load, under load. The first step woke it and its start failed; clients routed to it got 503
until ``failure_limit`` analyses rolled it back (88 failed requests in a tester's run). Now the
rollout fails when the start does, with the replica's reason, and v1 serves everything."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from inferd.packaging import push

from ..conftest import UpProcess, start_up
from . import models
from .conftest import RandomLoad, rollout_store, spec_text

pytestmark = pytest.mark.slow


def rollout(up: UpProcess, *args: str) -> dict[str, Any]:
    return dict(orjson.loads(up.cli("rollout", *args, "fraud", "--json").stdout))


def test_a_canary_whose_candidate_cannot_start_fails_when_its_start_does(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = rollout_store(home, tmp_path / "models")
    push(store, models.write(models.unloadable(), tmp_path / "broken"), "fraud:broken")
    text = spec_text("fraud:broken", steps="[20, 100]", interval="5s", failure_limit=2)
    text = text.replace('model: "fraud:broken", replicas: 1', 'model: "fraud:broken", replicas: 0')
    text += "    autoscaling: {min_replicas: 0, max_replicas: 2, cold_start_timeout: 30s}\n"
    path = tmp_path / "inferd.yaml"
    path.write_text(text)
    up = start_up(home, path)
    try:
        with RandomLoad(up.gateway_port) as load:
            rollout(up, "start")
            deadline = time.monotonic() + 60
            while (status := rollout(up, "status"))["phase"] == "running":
                assert time.monotonic() < deadline, status
                time.sleep(0.2)
            ended = time.monotonic()
            time.sleep(1.0)
            after, after_versions = load.since(ended + 0.2)
        assert status["phase"] == "failed", status
        history = orjson.loads(up.cli("rollout", "history", "fraud", "--json").stdout)
        last = [d for d in history["decisions"] if d["rollout"] == status["id"]][-1]
        assert last["event"] == "failed", last
        assert "could not start a replica" in last["reason"], last
        assert "verdict" not in last  # not an analysis: the start's failure
        assert set(after) == {"200"} and set(after_versions) == {"v1"}, (after, after_versions)
    finally:
        assert up.stop() == 0
