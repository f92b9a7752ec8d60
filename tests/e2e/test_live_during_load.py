"""Liveness answers at once while a real scikit-learn model loads into a running server: the
framework's import, the skops load and the warm-up run off the event loop (the import alone
stalled liveness 1.2 s when it ran on the loop).

tests/serving/test_load_off_loop.py holds the 50 ms bound with a deterministic slow double. Here
a real import still takes the interpreter lock in spurts while C extensions initialise (14-25 ms
measured on two busy cores with a warm page cache), so the bound is generous: it tells a loop
that answers between spurts from one blocked for the whole import."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from inferd.config import StoreSettings
from inferd.packaging import push
from inferd.store import ModelStore

from .conftest import ROOT, ServeProcess

Serve = Callable[..., ServeProcess]

#: Well under the 1.2 s stall, well over the 14-25 ms of lock spurts measured here.
LIVE_WITHIN_S = 0.2


class LiveProbe:
    """GETs /v2/health/live back to back on one connection and records each latency."""

    def __init__(self, port: int) -> None:
        self._conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self._stop = threading.Event()
        self.latencies: list[float] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LiveProbe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self._conn.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            self._conn.request("GET", "/v2/health/live")
            response = self._conn.getresponse()
            response.read()
            assert response.status == 200
            self.latencies.append(time.perf_counter() - started)
            time.sleep(0.002)


def test_liveness_answers_within_50_ms_while_an_sklearn_model_loads(
    tmp_path: Path, serve: Serve
) -> None:
    home = tmp_path / "home"
    push(
        ModelStore.from_settings(StoreSettings(home=home)), ROOT / "examples" / "sklearn", "skl:v1"
    )
    # A fresh server that has not imported scikit-learn yet: the first load pays for it.
    server = serve(home, "--allow-empty")
    token = (home / f"server-{server.control_port}.token").read_text().strip()
    with LiveProbe(server.port) as probe:
        time.sleep(0.2)
        loaded = httpx.post(
            f"http://127.0.0.1:{server.control_port}/v2/repository/models/skl/load",
            json={"parameters": {"reference": "skl:v1"}},
            headers={"Authorization": f"Bearer {token}"},
            timeout=120,
        )
        time.sleep(0.1)
    assert loaded.status_code == 200, loaded.text
    assert len(probe.latencies) > 20
    assert max(probe.latencies) < LIVE_WITHIN_S, sorted(probe.latencies)[-5:]
