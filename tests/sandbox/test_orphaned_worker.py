"""A sandbox worker whose server died without closing it (SIGKILL, the OOM killer, a replica
killed by ``inferd up``) ends, with what its model forked, even while a predict hangs in it.

The worker used to notice only when it next read its socket: a hung or slow predict ran on,
orphaned under init, past every timeout the server would have enforced. The server here is a
real process (a small Python script holding a :class:`SandboxedModel`) killed with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

#: The model hangs in predict without using CPU (no RLIMIT_CPU to end it), once it said so on
#: its stderr (the server's).
MODEL = """
import sys, threading

class Model:
    def predict(self, inputs):
        print("predict hangs now", file=sys.stderr, flush=True)
        threading.Event().wait()
"""

#: A server: loads the model, prints its worker's pid, then calls predict (which hangs).
SERVER = """
import sys, numpy as np
from pathlib import Path
from inferd.card import ModelCard
from inferd.runtimes import LoadOptions, get_runtime

card = ModelCard(name="m", runtime="python", entrypoint="model:Model")
model = get_runtime("python").load(Path(sys.argv[1]), card, LoadOptions(trust_code=True))
print(model.pid, flush=True)
model.predict({"x": np.array([1])})
"""


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_a_worker_ends_when_its_server_is_killed_mid_predict(tmp_path: Path) -> None:
    (tmp_path / "model.py").write_text(textwrap.dedent(MODEL))
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    worker = 0
    try:
        assert server.stdout is not None and server.stderr is not None
        worker = int(server.stdout.readline())
        while "predict hangs now" not in server.stderr.readline():
            assert server.poll() is None, "the server ended before its predict"
        server.kill()
        server.wait(30)
        deadline = time.monotonic() + 30  # a bound against a hang, not a measurement
        while not _gone(worker):
            assert time.monotonic() < deadline, "the worker outlived its server"
            time.sleep(0.05)
    finally:
        if server.poll() is None:
            server.kill()
        server.wait(30)
        for pipe in (server.stdout, server.stderr):
            if pipe is not None:
                pipe.close()
        if worker and not _gone(worker):
            os.kill(worker, signal.SIGKILL)
