"""examples/llm/README.md (and the same block in the project README), run as written: its
commands (make the model and an adapter, push both, serve the adapter) and its Python snippet
(the official ``openai`` client, streaming) against the real ``inferd serve`` on llama.cpp. Only
the port changes."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import wait_ready
from .test_readme_tour import _free_port

if os.environ.get("CI") != "true":
    pytest.importorskip("llama_cpp", reason="the llm extra is not installed (make test does)")

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "examples" / "llm" / "README.md"
BIN = Path(sys.executable).parent


def blocks() -> tuple[list[str], str]:
    """The bash block's commands and the Python block's code."""
    text = README.read_text()
    bash = re.search(r"```bash\n(.*?)```", text, re.S)
    python = re.search(r"```python\n(.*?)```", text, re.S)
    assert bash is not None and python is not None
    commands = [line.split("  #", 1)[0].strip() for line in bash.group(1).splitlines()]
    return [c for c in commands if c and not c.startswith("#")], python.group(1)


def test_the_readme_shows_the_same_commands() -> None:
    """The project README's language-model block is the example's, so this test runs both."""
    top = (ROOT / "README.md").read_text()
    example = re.search(r"```bash\n.*?```", README.read_text(), re.S)
    assert example is not None and example.group(0) in top


def test_the_llm_example_runs_as_written(tmp_path: Path) -> None:
    commands, snippet = blocks()
    port = _free_port()
    env = {
        **os.environ,
        "INFERD_HOME": str(tmp_path / "home"),
        "INFERD_PORT": str(port),
        **{f"INFERD_{name}": str(_free_port()) for name in
           ("GRPC_PORT", "CONTROL_PORT", "CONTROL_GRPC_PORT")},
        "PATH": f"{BIN}:{os.environ['PATH']}",
    }  # fmt: skip
    server = None
    try:
        for command in commands:
            argv = shlex.split(command.replace("examples/llm/", f"{ROOT}/examples/llm/"))
            if argv[0] == "python":
                argv[0] = sys.executable
            if argv[:2] == ["inferd", "serve"]:
                server = subprocess.Popen(
                    argv, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )  # fmt: skip
                wait_ready(f"http://127.0.0.1:{port}", 60)
                continue
            done = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True,
                                  timeout=120, check=False)  # fmt: skip
            assert done.returncode == 0, f"{command!r}: {done.stderr}"
        assert server is not None, "the example serves the model"
        code = snippet.replace("localhost:8080", f"127.0.0.1:{port}")
        ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=120, check=False)  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout, "the stream printed no text"
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            assert server.wait(60) == 0


def test_the_gateway_example_runs_as_written(tmp_path: Path) -> None:
    """The README's pushes, then its ``inferd up`` of examples/llm/inferd.yaml and the client
    snippet against the gateway (on free ports instead of 8080)."""
    commands, _ = blocks()
    text = README.read_text()
    up_block = re.search(r"```bash up\n(.*?)```", text, re.S)
    snippet = re.search(r"```python up\n(.*?)```", text, re.S)
    assert up_block is not None and snippet is not None
    env = {**os.environ, "INFERD_HOME": str(tmp_path / "home"),
           "PATH": f"{BIN}:{os.environ['PATH']}"}  # fmt: skip
    for command in commands:
        argv = shlex.split(command.replace("examples/llm/", f"{ROOT}/examples/llm/"))
        if argv[:2] == ["inferd", "serve"]:
            continue  # the first part of the tour; the gateway takes its place here
        if argv[0] == "python":
            argv[0] = sys.executable
        done = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True,
                              timeout=120, check=False)  # fmt: skip
        assert done.returncode == 0, f"{command!r}: {done.stderr}"
    (line,) = [c.split("  #", 1)[0].strip() for c in up_block.group(1).splitlines() if c]
    port = _free_port()
    argv = [*shlex.split(line.replace("examples/llm/", f"{ROOT}/examples/llm/")),
            "--port", str(port), "--grpc-port", str(_free_port())]  # fmt: skip
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        up = subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=out, stderr=out)
    try:
        wait_ready(f"http://127.0.0.1:{port}", 120)
        code = snippet.group(1).replace("localhost:8080", f"127.0.0.1:{port}")
        ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=120, check=False)  # fmt: skip
        assert ran.returncode == 0, ran.stderr + log.read_text()
        # Each answer names the model asked for (the deployment), as vLLM and OpenAI answer.
        assert "['support-bot']" in ran.stdout
        assert ran.stdout.count("support-bot ") == 2, ran.stdout
    finally:
        up.send_signal(signal.SIGTERM)
        assert up.wait(60) == 0, log.read_text()
