"""Processes a trusted model forks (in its worker's process group) end with the worker: a worker
killed at the call timeout, or closed, leaves no child of the model running under init.

The model's child takes an exclusive ``flock`` on a file outside the model directory and sleeps
for ever; the lock is free again only once every process holding it is gone. (The worker's PID
namespace ends a child that left the group too: ``test_pid_namespace.py``.)
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from inferd.config import SandboxSettings
from inferd.errors import Unavailable
from inferd.sandbox.model import SandboxedModel

from .conftest import lock_holders, lock_released, sandboxed_python

#: predict forks a child that locks ``{lock}``, writes its pid (in the worker's PID namespace)
#: to ``{pid}`` and sleeps; the parent waits for the pid, then sleeps ``{hang}`` seconds before
#: it answers.
MODEL = """
import fcntl, os, time
import numpy as np

class Model:
    def predict(self, inputs):
        if os.fork() == 0:
            fd = os.open({lock!r}, os.O_RDWR)
            fcntl.flock(fd, fcntl.LOCK_EX)
            with open({pid!r} + ".tmp", "w") as out:
                out.write(os.readlink("/proc/self"))
            os.rename({pid!r} + ".tmp", {pid!r})
            while True:
                time.sleep(1)
        while not os.path.exists({pid!r}):
            time.sleep(0.01)
        time.sleep({hang})
        return {{"y": inputs["x"]}}
"""


@pytest.fixture
def files(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """The lock file and the pid file; a child still holding the lock at the end is killed."""
    lock, pid = tmp_path / "child.lock", tmp_path / "child.pid"
    lock.touch()
    yield lock, pid
    for holder in lock_holders(lock):
        with contextlib.suppress(ProcessLookupError):
            os.kill(holder, signal.SIGKILL)


def _load(tmp_path: Path, lock: Path, pid: Path, hang: float) -> SandboxedModel:
    code = MODEL.format(lock=str(lock), pid=str(pid), hang=hang)
    return sandboxed_python(tmp_path / "model", code, sandbox=SandboxSettings(call_timeout_s=2))


def test_a_child_of_a_worker_killed_at_the_timeout_is_killed_too(
    tmp_path: Path, files: tuple[Path, Path]
) -> None:
    lock, pid = files
    model = _load(tmp_path, lock, pid, hang=60)
    try:
        with pytest.raises(Unavailable, match="call_timeout_s"):
            model.predict({"x": np.array([1])})
        assert pid.exists()
        assert lock_released(lock), "the model's child outlived its killed worker"
    finally:
        model.close()


def test_a_child_of_a_closed_worker_is_killed_too(tmp_path: Path, files: tuple[Path, Path]) -> None:
    lock, pid = files
    model = _load(tmp_path, lock, pid, hang=0)
    np.testing.assert_array_equal(model.predict({"x": np.array([1])})["y"], [1])
    model.close()
    assert lock_released(lock), "the model's child outlived its closed worker"
