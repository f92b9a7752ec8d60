"""The README's tour, run as written: every command of its tour block, in order, against a fresh
store. Only ports change (the tour's :8080 may be taken here), a real registry on loopback with
basic auth stands in for registry.example.com (login answers its prompts, push then uses the
stored credentials over plain HTTP, as for any loopback registry), and the one line that needs a
cluster (`kubectl apply`) is named below and checked to be exactly that; the render feeding it
still runs."""

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

from store.remote.conftest import PASSWORD, USER
from store.remote.pki import htpasswd_line
from store.remote.registry import Registry, start_registry

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
INFERD = str(Path(sys.executable).with_name("inferd"))
#: The registry host the README names; a loopback registry stands in for it.
README_REGISTRY = "registry.example.com"


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


def _wait(url: str, timeout: float = 60, said: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    output = said.read_text(errors="replace")[-2000:] if said is not None else ""
    raise AssertionError(f"{url} not ready in {timeout} s\n{output}")


@pytest.fixture
def background() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    root = tmp_path / "registry"
    root.mkdir()
    htpasswd = root / "htpasswd"
    htpasswd.write_text(htpasswd_line(USER, PASSWORD))
    auth = {"htpasswd": {"realm": "inferd-tour", "path": str(htpasswd)}}
    with start_registry(root / "r", auth=auth) as running:
        yield running


def test_the_readme_tour_runs_as_written(tmp_path: Path, background, registry: Registry) -> None:
    ports = {
        name: _free_port() for name in ("PORT", "GRPC_PORT", "CONTROL_PORT", "CONTROL_GRPC_PORT")
    }
    env = {**os.environ, "INFERD_HOME": str(tmp_path / "home"),
           **{f"INFERD_{name}": str(port) for name, port in ports.items()}}  # fmt: skip
    env["PATH"] = f"{Path(INFERD).parent}:{env['PATH']}"
    env["DOCKER_CONFIG"] = str(tmp_path / "docker")
    gateway_port = _free_port()
    skipped = []
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    pushed = []
    for written in tour_commands():
        command = written.replace("localhost:8080", f"localhost:{ports['PORT']}")
        if command.startswith(("inferd login ", "inferd push ")):
            command = command.replace(README_REGISTRY, registry.host)
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
            up = [*argv, "--port", str(gateway_port), "--grpc-port", str(_free_port())]
            with (tmp_path / "up.out").open("wb") as out:  # kept: read when up is not ready
                background.append(
                    subprocess.Popen(up, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
                )
            _wait(f"http://127.0.0.1:{gateway_port}/v2/health/ready", said=tmp_path / "up.out")
            continue
        answers = f"{USER}\n{PASSWORD}\n" if argv[:2] == ["inferd", "login"] else None
        done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True,
                              input=answers, timeout=120, check=False)  # fmt: skip
        if argv[:2] == ["inferd", "push"] and registry.host in argv[-1]:
            pushed.append(argv[-1])
        assert done.returncode == 0, f"{command!r} exited {done.returncode}: {done.stderr}"
        if argv[0] == "curl":
            answer = orjson.loads(done.stdout)
            assert {o["name"] for o in answer["outputs"]} == {"label", "probabilities"}
        if argv[:3] == ["inferd", "k8s", "render"]:
            assert "kind: Deployment" in done.stdout
    assert skipped == ["kubectl apply -f -"]
    assert pushed == [f"{registry.host}/ml/fraud:v2"]
    tags = httpx.get(f"{registry.url}/v2/ml/fraud/tags/list", auth=(USER, PASSWORD), timeout=10)
    assert tags.json()["tags"] == ["v2"]
