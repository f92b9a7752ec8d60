"""R25 at the server: 10 control-plane loads of one remote reference, sent at once to a real
``inferd serve``, pull it from the registry once and load it once; a failure is shared by the
loads it overlapped, and is not kept: the next load tries the registry again.

The registry is the real one of :mod:`.registry`; the server reaches it through the recording
proxy of :mod:`.proxy`, which here also holds manifest requests until all 10 loads have reached
the server (its control port holds 10 open connections), so the loads overlap on any machine.
Every request the server sends the registry is counted there. Loads are counted by the server:
``inferd_model_load_duration_seconds`` is observed once per load, failed or not,
``inferd_model_load_failures_total`` counts the failed ones, and each load that works logs
``<name>:<version> is ready``.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
import pytest

from e2e.conftest import FRAUD_BODY, QUICKSTART, ServeProcess, _stop, start_serve
from inferd.packaging import push
from inferd.store import ModelStore

from .proxy import Faults, _Handler, _Server
from .registry import Registry
from .serving import serving

pytestmark = pytest.mark.slow

LOADS = 10


class _HeldServer(_Server):
    gate: threading.Event


class _HeldHandler(_Handler):
    """The fault proxy's handler; manifest requests wait for ``server.gate`` first."""

    server: _HeldServer

    def do_GET(self) -> None:
        if "/manifests/" in self.path:
            self.server.gate.wait(60)
        super().do_GET()


@contextmanager
def held_proxy(upstream: str, faults: Faults) -> Iterator[_HeldServer]:
    server = _HeldServer(("127.0.0.1", 0), _HeldHandler)
    server.upstream, server.faults, server.lock = upstream, faults, threading.Lock()
    server.gate = threading.Event()
    with serving(server):
        try:
            yield server
        finally:
            server.gate.set()


def _connections(server: ServeProcess) -> int:
    """Open connections the server has accepted on its control port."""
    sockets = psutil.Process(server.proc.pid).net_connections(kind="tcp")
    return sum(
        1 for c in sockets if c.laddr.port == server.control_port and c.status == "ESTABLISHED"
    )


def _load_at_once(
    server: ServeProcess, home: Path, reference: str, gate: threading.Event
) -> list[httpx.Response]:
    """POST ``LOADS`` loads of ``reference`` from as many threads; open ``gate`` (the proxy's
    manifests) once the server holds all of their connections."""
    token = (home / f"server-{server.control_port}.token").read_text().strip()
    url = f"http://127.0.0.1:{server.control_port}/v2/repository/models/fraud/load"
    body = {"parameters": {"reference": reference}}
    answers: list[httpx.Response | BaseException] = [RuntimeError("no answer")] * LOADS

    def one(i: int) -> None:
        try:
            answers[i] = httpx.post(
                url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=120
            )
        except httpx.HTTPError as exc:
            answers[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(LOADS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while _connections(server) < LOADS:
        assert time.monotonic() < deadline, f"only {_connections(server)} loads reached it"
        time.sleep(0.02)
    gate.set()
    for thread in threads:
        thread.join(180)
    done = [a for a in answers if isinstance(a, httpx.Response)]
    assert len(done) == LOADS, answers
    return done


def _counted(server: ServeProcess, series: str, version: str) -> float:
    """The value of ``series`` for fraud:``version`` in the server's ``/metrics``."""
    metrics = httpx.get(server.url + "/metrics", timeout=10).text
    line = re.compile(
        rf'^{series}\{{(?=[^}}]*model="fraud")(?=[^}}]*version="{version}")[^}}]*\}} (\S+)$',
        re.MULTILINE,
    )
    return sum(float(m.group(1)) for m in line.finditer(metrics))


def _loads(server: ServeProcess, version: str) -> tuple[float, float]:
    """(loads ended, loads failed) of fraud:``version``, as the server counts them."""
    return (
        _counted(server, "inferd_model_load_duration_seconds_count", version),
        _counted(server, "inferd_model_load_failures_total", version),
    )


def test_ten_concurrent_loads_pull_once_load_once_and_share_a_failure(
    open_registry: Registry, store: ModelStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = f"c{uuid.uuid4().hex[:10]}"
    pushed = push(store, QUICKSTART / "fraud-v1", f"{open_registry.host}/fraud:{version}")
    # The first 5 manifest requests get 503: one load's attempts (RegistrySettings.attempts).
    faults = Faults(unavailable=5)
    home = tmp_path / "server-home"
    home.mkdir()
    with held_proxy(open_registry.host, faults) as proxy:
        host = f"127.0.0.1:{proxy.server_address[1]}"
        monkeypatch.setenv("INFERD_INSECURE_REGISTRIES", host)
        monkeypatch.setenv("INFERD_ALLOWED_REGISTRIES", host)
        server = start_serve(home, "--allow-empty")
        try:
            reference = f"{host}/fraud:{version}"
            # A registry that fails: every overlapping load gets the one failure, after one
            # round of retries (not one round per load, one after the other).
            failed = _load_at_once(server, home, reference, proxy.gate)
            assert {a.status_code for a in failed} == {503}, [a.text for a in failed]
            assert len({a.json()["error"] for a in failed}) == 1, [a.text for a in failed]
            assert "HTTP 503" in failed[0].json()["error"]
            assert sum("/manifests/" in p for _, p, _ in faults.seen) == 5
            assert _loads(server, version) == (1, 1)  # one load, failed
            # The failure was not kept: the registry is well again, and 10 loads pull once.
            proxy.gate = threading.Event()
            faults.seen.clear()
            loaded = _load_at_once(server, home, reference, proxy.gate)
            assert {a.status_code for a in loaded} == {200}, [a.text for a in loaded]
            infer = httpx.post(f"{server.url}/v2/models/fraud/infer", json=FRAUD_BODY)
            assert infer.status_code == 200, infer.text
            assert infer.json()["model_version"] == version
            assert _loads(server, version) == (2, 1)  # and one more, that worked
            ready = [line for line in server.log if f"fraud:{version} is ready" in line]
            assert len(ready) == 1, ready
        finally:
            _stop(server)
    manifests = [p for _, p, _ in faults.seen if "/manifests/" in p]
    blobs = Counter(p for m, p, _ in faults.seen if m == "GET" and "/blobs/" in p)
    assert manifests == [f"/v2/fraud/manifests/{version}"]
    # The config (the card) and the one layer (model.onnx), each downloaded once.
    assert len(blobs) == 2 and set(blobs.values()) == {1}, blobs
    # One complete copy: each blob stored once, under its digest, and one materialized folder.
    stored = home / "store" / "blobs" / "sha256"
    for path in blobs:
        assert (stored / path.rsplit(":", 1)[1]).is_file()
    hexdigest = pushed.digest.removeprefix("sha256:")
    assert sorted(p.name for p in (home / "models").iterdir()) == [hexdigest, f"{hexdigest}.stamp"]
    assert [p.name for p in (home / "models" / hexdigest).iterdir()] == ["model.onnx"]
