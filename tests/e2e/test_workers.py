"""``--workers N``: N processes share one port (SO_REUSEPORT) and stop together on SIGTERM."""

from __future__ import annotations

import socket
import time

import httpx
import psutil
import pytest

pytestmark = pytest.mark.slow


def test_two_workers_share_the_port_and_drain_on_sigterm(store_home, serve, fraud_body):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = serve(store_home, "fraud:v1", "--workers", "2", "--port", str(port))
    workers: list[psutil.Process] = []
    listening: set[int] = set()
    deadline = time.monotonic() + 30
    # The startup log of the first worker may come before the second one has bound.
    while time.monotonic() < deadline and (len(workers) < 2 or len(listening) < 2):
        workers = [
            p
            for p in psutil.Process(server.proc.pid).children()
            if "spawn_main" in " ".join(p.cmdline())
        ]
        listening = {
            c.pid
            for c in psutil.net_connections("tcp")
            if c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN
        }
        time.sleep(0.1)
    assert len(workers) == 2
    assert listening == {w.pid for w in workers}
    # Each worker binds before its model has loaded (readiness says when it has): wait until 20
    # fresh connections in a row find a ready worker, which both must be (a loaded CI machine
    # gave one a 503 here).
    ready_in_a_row = 0
    while ready_in_a_row < 20:
        assert time.monotonic() < deadline + 60, "the workers never both became ready"
        ready = httpx.get(f"http://127.0.0.1:{port}/v2/health/ready").status_code == 200
        ready_in_a_row = ready_in_a_row + 1 if ready else 0
        if not ready:
            time.sleep(0.1)
    for _ in range(20):
        # A new connection each time: the kernel spreads them over the workers.
        answer = httpx.post(f"http://127.0.0.1:{port}/v2/models/fraud/infer", json=fraud_body)
        assert answer.status_code == 200
    assert server.terminate() == 0
    assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)
