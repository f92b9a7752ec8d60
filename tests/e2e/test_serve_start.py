"""What ``inferd serve`` does when nothing it was asked for loads: exit with the reason and the
failure's status, or, with ``--allow-empty``, stay up for control-plane loads."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx

from .conftest import FRAUD_BODY, INFERD, ServeProcess, wait_ready

Serve = Callable[..., ServeProcess]

PORTS = ["--port", "0", "--grpc-port", "0", "--control-port", "0", "--control-grpc-port", "0"]


def _control(
    server: ServeProcess, home: Path, path: str, body: dict[str, object]
) -> httpx.Response:
    token = (home / f"server-{server.control_port}.token").read_text().strip()
    return httpx.post(
        f"http://127.0.0.1:{server.control_port}{path}",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )


def test_serving_nothing_loadable_exits_with_the_reason(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = subprocess.run(
        [*INFERD, "serve", *PORTS, "nosuch:v1"],
        env={**os.environ, "INFERD_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 3, done.stderr  # NOT_FOUND, as every other command
    assert "cannot serve nosuch:v1" in done.stderr
    assert "--allow-empty" in done.stderr
    assert done.stderr.rstrip().splitlines()[-1].startswith("error: ")
    assert not list(home.glob("server-*.token"))  # closed what it opened


def test_allow_empty_stays_up_for_control_plane_loads(store_home: Path, serve: Serve) -> None:
    server = serve(store_home, "--allow-empty", "nosuch:v1")
    assert httpx.get(server.url + "/v2/health/live").status_code == 200
    assert "model nosuch:v1 not served" in "".join(server.log)
    loaded = _control(
        server, store_home, "/v2/repository/models/fraud/load",
        {"parameters": {"reference": "fraud:v1"}},
    )  # fmt: skip
    assert loaded.status_code == 200, loaded.text
    answer = httpx.post(server.url + "/v2/models/fraud/infer", json=FRAUD_BODY)
    assert answer.status_code == 200, answer.text
    assert server.terminate() == 0


def test_allow_empty_with_no_reference_is_ready(store_home: Path, serve: Serve) -> None:
    server = serve(store_home, "--allow-empty")
    wait_ready(server.url)
    assert server.terminate() == 0


def test_workers_with_nothing_loadable_exit_with_the_same_status(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = subprocess.run(
        [*INFERD, "serve", *PORTS, "--port", str(port), "--no-grpc", "--workers", "2", "nosuch:v1"],
        env={**os.environ, "INFERD_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 3, done.stderr
    assert "[worker 1]" in done.stderr and "nosuch" in done.stderr
