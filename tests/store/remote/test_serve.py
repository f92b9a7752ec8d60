"""``inferd serve host/name:tag`` pulls the version from the registry on start, then serves it."""

from __future__ import annotations

import http.client
from pathlib import Path

import orjson
import pytest

from e2e.conftest import FRAUD_BODY, QUICKSTART, _stop, start_serve, wait_ready
from inferd.packaging import push
from inferd.store import ModelStore

from .registry import Registry


@pytest.mark.slow
def test_serve_pulls_a_remote_reference_on_start(
    open_registry: Registry, store: ModelStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = f"{open_registry.host}/fraud:served"
    pushed = push(store, QUICKSTART / "fraud-v1", ref)
    monkeypatch.setenv("INFERD_INSECURE_REGISTRIES", open_registry.host)
    home = tmp_path / "server-home"
    home.mkdir()
    server = start_serve(home, ref)
    try:
        wait_ready(server.url)
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("POST", "/v2/models/fraud/infer", body=orjson.dumps(FRAUD_BODY))
        answer = conn.getresponse()
        assert answer.status == 200, answer.read()
        conn.close()
    finally:
        _stop(server)
    assert (home / "models" / pushed.digest.removeprefix("sha256:")).is_dir()
    # The pull's requests (manifest, blobs) are not logged one by one as httpx would at INFO.
    assert not [line for line in server.log if "HTTP Request" in line], server.log
