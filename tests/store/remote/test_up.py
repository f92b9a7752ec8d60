"""``inferd up`` with a remote model reference pulls it on start and routes to it."""

from __future__ import annotations

import http.client
from pathlib import Path

import orjson
import pytest

from control.conftest import spec_text, start_up
from e2e.conftest import FRAUD_BODY, QUICKSTART
from inferd.packaging import push
from inferd.store import ModelStore

from .registry import Registry


@pytest.mark.slow
def test_up_serves_a_version_named_by_a_remote_reference(
    open_registry: Registry, store: ModelStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = f"{open_registry.host}/fraud:up"
    pushed = push(store, QUICKSTART / "fraud-v1", ref)
    monkeypatch.setenv("INFERD_INSECURE_REGISTRIES", open_registry.host)
    home = tmp_path / "up-home"
    home.mkdir()
    spec = tmp_path / "inferd.yaml"
    spec.write_text(spec_text({"v1": (ref, 1, 100)}))
    up = start_up(home, spec)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", up.gateway_port, timeout=30)
        conn.request("POST", "/v2/models/fraud/infer", body=orjson.dumps(FRAUD_BODY))
        answer = conn.getresponse()
        assert answer.status == 200, answer.read()
        conn.close()
    finally:
        assert up.stop() == 0
    assert (home / "models" / pushed.digest.removeprefix("sha256:")).is_dir()
