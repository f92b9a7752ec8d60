"""A state file left by an ``inferd up`` that was killed (``kill -9``, a container stopped with
``docker kill``) names a pid the kernel may give to another process later — in a container,
to the next ``inferd up`` itself, which is pid 1 again. That file must read as stale, not as an
``inferd up`` running: otherwise ``inferd up`` refuses to start (exit 4) until someone deletes
``up.json`` by hand."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from inferd.control.up_state import STATE_FILE, UpState, read_state, write_state

from .conftest import fraud_store, spec_text, start_up


def _state(pid: int) -> UpState:
    return UpState(pid, "127.0.0.1", 9, "http://127.0.0.1:9", "/x/inferd.yaml", time.time())


def _left_by_a_dead_process(home: Path, pid_now: int) -> None:
    """What a killed ``inferd up`` leaves when the kernel has since given its pid to
    ``pid_now``: a file written for a process that has exited, naming ``pid_now``."""
    dead = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        write_state(home, _state(dead.pid), "token")
    finally:
        dead.kill()
        dead.wait()
    path = home / STATE_FILE
    path.write_bytes(orjson.dumps({**orjson.loads(path.read_bytes()), "pid": pid_now}))


def test_a_live_inferd_up_is_found(tmp_path: Path) -> None:
    write_state(tmp_path, _state(os.getpid()), "token")
    found = read_state(tmp_path)
    assert found is not None and found[0].pid == os.getpid()


def test_a_pid_given_to_another_process_since_is_not_an_inferd_up(tmp_path: Path) -> None:
    _left_by_a_dead_process(tmp_path, os.getpid())
    assert read_state(tmp_path) is None


@pytest.mark.slow
def test_inferd_up_starts_over_a_state_file_whose_pid_was_reused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    fraud_store(home)
    _left_by_a_dead_process(home, os.getpid())  # alive, and no inferd up
    spec = tmp_path / "inferd.yaml"
    spec.write_text(spec_text({"v1": ("fraud:v1", 1, 100)}))
    up = start_up(home, spec)  # exited 4: "already running for this store (pid …)"
    try:
        assert up.state.pid == up.proc.pid
        assert up.cli("ps").returncode == 0
    finally:
        assert up.stop() == 0
