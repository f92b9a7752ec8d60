"""``--workers N``: N processes share one port (SO_REUSEPORT) and stop together on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from inferd.config import ServerSettings, StoreSettings
from inferd.server import build_server

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_two_workers_share_the_port_and_drain_on_sigterm(store_home, serve, fraud_body):
    port = free_port()
    server = serve(store_home, "fraud:v1", "--workers", "2", "--port", str(port), "--no-grpc")
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while httpx.get(f"{url}/v2/health/ready").status_code != 200:
        assert time.monotonic() < deadline, "no worker became ready"
        time.sleep(0.05)
    # From the first ready answer on, whichever worker a new connection reaches is ready: the
    # second binds only once its model is warm (it used to bind first and answer 503s).
    workers: list[psutil.Process] = []
    listening: set[int] = set()
    while len(workers) < 2 or len(listening) < 2:
        assert time.monotonic() < deadline, f"workers {workers}, listening {listening}"
        assert httpx.get(f"{url}/v2/health/ready").status_code == 200
        # A new connection each time: the kernel spreads them over the workers.
        assert httpx.post(f"{url}/v2/models/fraud/infer", json=fraud_body).status_code == 200
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
    assert listening == {w.pid for w in workers}
    for _ in range(20):
        answer = httpx.post(f"{url}/v2/models/fraud/infer", json=fraud_body)
        assert answer.status_code == 200
    assert server.terminate() == 0
    assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)


def test_a_worker_that_joins_the_port_binds_only_once_its_model_is_warm(store_home: Path) -> None:
    port = free_port()
    settings = ServerSettings(
        host="127.0.0.1", port=port, grpc_port=None, store=StoreSettings(home=store_home)
    )
    server = build_server(settings, ["fraud:v1"], reuse_port=True, control=False)

    async def scenario() -> tuple[bool, int]:
        allowed = asyncio.Event()
        starting = asyncio.create_task(server.start(listen_when=allowed.wait))
        while not server.dataplane.repository_index(ready_only=True):
            assert not starting.done(), "start ended before its model was ready"
            await asyncio.sleep(0.01)
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            bound_while_waiting = True
        except ConnectionRefusedError:
            bound_while_waiting = False
        allowed.set()
        await starting
        async with httpx.AsyncClient() as client:
            status = (await client.get(f"http://127.0.0.1:{port}/v2/health/ready")).status_code
        await server.shutdown()
        return bound_while_waiting, status

    bound_while_waiting, first_answer = asyncio.run(scenario())
    assert not bound_while_waiting
    assert first_answer == 200


def _listening(port: int) -> set[int]:
    return {
        c.pid
        for c in psutil.net_connections("tcp")
        if c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN and c.pid
    }


def _wait_for_new_workers(port: int, gone: set[int], count: int, server_pid: int) -> set[int]:
    """The pids of ``count`` workers listening on ``port``, none of them in ``gone``."""
    deadline = time.monotonic() + 90
    while True:
        listening = _listening(port)
        if len(listening) == count and not listening & gone:
            return listening
        assert psutil.pid_exists(server_pid), "the server ended"
        assert time.monotonic() < deadline, f"listening {listening}, killed {gone}"
        time.sleep(0.1)


def test_a_killed_worker_is_logged_and_restarted_and_so_are_both(
    store_home, serve, fraud_body
) -> None:
    port = free_port()
    server = serve(store_home, "fraud:v1", "--workers", "2", "--port", str(port), "--no-grpc")
    url = f"http://127.0.0.1:{port}"
    first = _wait_for_new_workers(port, set(), 2, server.proc.pid)
    victim = min(first)
    psutil.Process(victim).kill()
    second = _wait_for_new_workers(port, {victim}, 2, server.proc.pid)
    assert second - first, "a new worker took the place of the killed one"
    for _ in range(10):
        assert httpx.post(f"{url}/v2/models/fraud/infer", json=fraud_body).status_code == 200
    log = "".join(server.log)
    assert f"(pid {victim}) was killed by SIGKILL; restarting it" in log, log
    # Both at once: the server does not end, it starts two again.
    for pid in second:
        psutil.Process(pid).kill()
    _wait_for_new_workers(port, first | second, 2, server.proc.pid)
    assert server.proc.poll() is None
    answer = httpx.post(f"{url}/v2/models/fraud/infer", json=fraud_body)
    assert answer.status_code == 200
    assert server.terminate() == 0


def test_workers_that_keep_dying_are_given_up_with_status_1(
    store_home: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from inferd.server import workers

    monkeypatch.setattr(workers, "MAX_DEATHS", 1)  # the second death in a row gives up
    port = free_port()
    settings = ServerSettings(
        host="127.0.0.1", port=port, grpc_port=None, control_port=None,
        store=StoreSettings(home=store_home),
    )  # fmt: skip
    supervisor = workers._Supervisor(settings, ["fraud:v1"], 2, workers._failed)
    status: list[int] = []
    running = threading.Thread(target=lambda: status.append(supervisor.run()))
    running.start()
    try:
        first = _wait_for_new_workers(port, set(), 2, os.getpid())
        victim = min(first)
        psutil.Process(victim).kill()
        (replacement,) = _wait_for_new_workers(port, {victim}, 2, os.getpid()) - first
        psutil.Process(replacement).kill()  # its second death in a row
        running.join(60)
        assert not running.is_alive(), "the supervisor did not give up"
    finally:
        supervisor.forward(signal.SIGTERM, None)
        running.join(60)
    assert status == [1]
    assert "its 2 death in a row: giving up" in caplog.text
    assert not _listening(port)
