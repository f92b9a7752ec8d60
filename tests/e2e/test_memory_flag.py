"""``inferd serve --memory-budget``: the flag reaches the server, and /metrics shows what each
loaded version was measured to hold."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx

from .conftest import INFERD, QUICKSTART, ServeProcess, wait_ready

Serve = Callable[..., ServeProcess]
PORTS = ["--port", "0", "--grpc-port", "0", "--control-port", "0", "--control-grpc-port", "0"]


def test_loaded_versions_show_their_measured_memory(store_home: Path, serve: Serve) -> None:
    server = serve(store_home, "--memory-budget", "4G", "fraud:v1")
    wait_ready(server.url)
    text = httpx.get(server.url + "/metrics").text
    match = re.search(
        r'^inferd_model_memory_bytes\{model="fraud",version="v1"\} (\S+)$', text, re.M
    )
    assert match is not None, text
    assert float(match.group(1)) >= (QUICKSTART / "fraud-v1" / "model.onnx").stat().st_size


def test_a_model_measured_beyond_the_budget_is_refused(store_home: Path) -> None:
    # The model's file (428 bytes) fits in 4 KiB; what its load adds to the process does not.
    done = subprocess.run(
        [*INFERD, "serve", *PORTS, "--memory-budget", "4K", "fraud:v1"],
        env={**os.environ, "INFERD_HOME": str(store_home)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr  # INVALID_ARGUMENT: no retry makes it fit
    assert "more than the memory budget of 4096" in done.stderr
    assert "--memory-budget" in done.stderr
