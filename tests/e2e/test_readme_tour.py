"""The README's tour, run as written: every command of its tour block, in order, against a fresh
store. Only ports change (the tour's :8080 may be taken here), and three lines that need services
outside this machine (a registry's login and push, a Kubernetes cluster) are named below and
checked to be exactly those; the render feeding kubectl still runs."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
INFERD = str(Path(sys.executable).with_name("inferd"))
#: Lines that reach beyond this machine: a registry's login and a push to it.
EXTERNAL = (
    "inferd login registry.example.com",
    "inferd push examples/quickstart/fraud-v2 registry.example.com/ml/fraud:v2",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tour_commands() -> list[str]:
    """The tour block (the README's second shell block): one string per command, comments and
    line continuations resolved."""
    blocks = re.findall(
        r"```(?:sh|bash|console)?\n(.*?)```", (ROOT / "README.md").read_text(), re.S
    )
    text = blocks[1].replace("\\\n", " ")
    commands = []
    for line in text.splitlines():
        command = line.split("  #", 1)[0].strip()
        if command and not command.startswith("#"):
            commands.append(" ".join(command.split()))
    return commands


def _wait(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready in {timeout} s")


@pytest.fixture
def background() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)


def test_the_readme_tour_runs_as_written(tmp_path: Path, background) -> None:
    ports = {
        name: _free_port() for name in ("PORT", "GRPC_PORT", "CONTROL_PORT", "CONTROL_GRPC_PORT")
    }
    env = {**os.environ, "INFERD_HOME": str(tmp_path / "home"),
           **{f"INFERD_{name}": str(port) for name, port in ports.items()}}  # fmt: skip
    env["PATH"] = f"{Path(INFERD).parent}:{env['PATH']}"
    gateway_port = _free_port()
    skipped = []
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    for written in tour_commands():
        if written in EXTERNAL:
            skipped.append(written)
            continue
        command = written.replace("localhost:8080", f"localhost:{ports['PORT']}")
        if command.endswith("| kubectl apply -f -"):
            command = command.removesuffix("| kubectl apply -f -")
            skipped.append("kubectl apply -f -")
        argv = shlex.split(command)
        if argv[:2] == ["inferd", "serve"]:
            background.append(subprocess.Popen(argv, env=env, cwd=ROOT, **quiet))
            _wait(f"http://127.0.0.1:{ports['PORT']}/v2/health/ready")
            continue
        if argv[:2] == ["inferd", "up"]:
            # the served model is no longer needed, and up's gateway takes a port of its own
            for proc in background:
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(60) == 0
            up = [*argv, "--port", str(gateway_port)]
            background.append(subprocess.Popen(up, env=env, cwd=ROOT, **quiet))
            _wait(f"http://127.0.0.1:{gateway_port}/v2/health/ready")
            continue
        done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True,
                              timeout=120, check=False)  # fmt: skip
        assert done.returncode == 0, f"{command!r} exited {done.returncode}: {done.stderr}"
        if argv[0] == "curl":
            answer = orjson.loads(done.stdout)
            assert {o["name"] for o in answer["outputs"]} == {"label", "probabilities"}
        if argv[:3] == ["inferd", "k8s", "render"]:
            assert "kind: Deployment" in done.stdout
    assert sorted(skipped) == sorted([*EXTERNAL, "kubectl apply -f -"])
