"""Two ``inferd up`` on one store at once: the second is refused (exit 4) while the first is
still starting, not only once it has written ``up.json``. Both started (with ``gateway.port:
0``, or different ``--port``), and ``up.json`` named the last one: the other ran on, out of
reach of ``inferd ps``, ``apply`` and ``down``."""

from __future__ import annotations

import fcntl
import os
import subprocess
import time
from pathlib import Path

import pytest

from inferd.control.up_state import read_state

from .conftest import INFERD, fraud_store, spec_text

pytestmark = pytest.mark.slow


def test_a_second_up_is_refused_while_the_first_starts(tmp_path: Path) -> None:
    home = tmp_path / "home"
    fraud_store(home)
    spec = tmp_path / "inferd.yaml"
    spec.write_text(spec_text({"v1": ("fraud:v1", 1, 100)}))
    # An inferd up that is starting: it holds the store's lock, up.json is not written yet.
    fd = os.open(home / "up.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    env = {**os.environ, "INFERD_HOME": str(home)}
    second = subprocess.Popen(
        [*INFERD, "up", str(spec)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        while second.poll() is None and read_state(home) is None:
            time.sleep(0.05)
        assert read_state(home) is None  # it did not start
        _, err = second.communicate(timeout=60)
        assert second.returncode == 4
        assert b"error: another inferd up is starting or stopping for this store" in err
    finally:
        if second.poll() is None:
            second.terminate()
            second.wait(60)
        os.close(fd)
