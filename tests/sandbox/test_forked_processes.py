"""Processes a trusted model forks (in its worker's process group) end with the worker: a worker
killed at the call timeout, or closed, leaves no child of the model running under init.

The model's child takes an exclusive ``flock`` on a file outside the model directory and sleeps
for ever; the lock is free again only once every process holding it is gone. (The worker's PID
namespace ends a child that left the group too: ``test_pid_namespace.py``.)
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from inferd.config import SandboxSettings
from inferd.errors import Unavailable
from inferd.sandbox.model import SandboxedModel

from .conftest import sandboxed_python

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
    for holder in _holders(lock):
        with contextlib.suppress(ProcessLookupError):
            os.kill(holder, signal.SIGKILL)


def _holders(lock: Path) -> list[int]:
    """The processes (as this one sees them: the pid the child wrote is its namespace's)
    holding a ``flock`` on ``lock``."""
    inode = lock.stat().st_ino
    found = []
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[1] == "FLOCK" and fields[5].endswith(f":{inode}"):
            found.append(int(fields[4]))
    return found


def _load(tmp_path: Path, lock: Path, pid: Path, hang: float) -> SandboxedModel:
    code = MODEL.format(lock=str(lock), pid=str(pid), hang=hang)
    return sandboxed_python(tmp_path / "model", code, sandbox=SandboxSettings(call_timeout_s=2))


def _released(lock: Path, within_s: float = 30.0) -> bool:
    """Whether the lock can be taken (every holder gone) within ``within_s``."""
    fd = os.open(lock, os.O_RDWR)
    try:
        deadline = time.monotonic() + within_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.05)
    finally:
        os.close(fd)


def test_a_child_of_a_worker_killed_at_the_timeout_is_killed_too(
    tmp_path: Path, files: tuple[Path, Path]
) -> None:
    lock, pid = files
    model = _load(tmp_path, lock, pid, hang=60)
    try:
        with pytest.raises(Unavailable, match="call_timeout_s"):
            model.predict({"x": np.array([1])})
        assert pid.exists()
        assert _released(lock), "the model's child outlived its killed worker"
    finally:
        model.close()


def test_a_child_of_a_closed_worker_is_killed_too(tmp_path: Path, files: tuple[Path, Path]) -> None:
    lock, pid = files
    model = _load(tmp_path, lock, pid, hang=0)
    np.testing.assert_array_equal(model.predict({"x": np.array([1])})["y"], [1])
    model.close()
    assert _released(lock), "the model's child outlived its closed worker"
