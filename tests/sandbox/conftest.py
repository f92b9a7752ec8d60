"""Helpers for the sandbox tests: trusted python models loaded into their sandbox workers."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from inferd.card import ModelCard
from inferd.config import SandboxSettings
from inferd.runtimes import LoadOptions, get_runtime
from inferd.sandbox.model import SandboxedModel


def sandboxed_python(
    directory: Path, source: str, *, name: str = "m", sandbox: SandboxSettings | None = None
) -> SandboxedModel:
    """``source`` (dedented) as ``directory/model.py`` (class ``Model``), loaded trusted as
    ``name`` in its sandbox worker (default settings unless ``sandbox``); the caller closes it."""
    directory.mkdir(exist_ok=True)
    (directory / "model.py").write_text(textwrap.dedent(source))
    options = LoadOptions(trust_code=True, sandbox=sandbox or SandboxSettings())
    card = ModelCard(name=name, runtime="python", entrypoint="model:Model")
    model = get_runtime("python").load(directory, card, options)
    assert isinstance(model, SandboxedModel)
    return model


def lock_holders(lock: Path) -> list[int]:
    """The processes (as this one sees them: a pid a model wrote is its namespace's) holding a
    ``flock`` on ``lock``: how the tests find what a model forked."""
    inode = lock.stat().st_ino
    found = []
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[1] == "FLOCK" and fields[5].endswith(f":{inode}"):
            found.append(int(fields[4]))
    return found


def lock_released(lock: Path, within_s: float = 30.0) -> bool:
    """Whether the lock can be taken (every holder gone) within ``within_s`` (a bound against a
    hang, not a measurement)."""
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


@pytest.fixture
def lock(tmp_path: Path) -> Iterator[Path]:
    """A lock file (``tmp_path/child.lock``) a model's children take to be found by
    :func:`lock_holders`; a process still holding it at the end is killed."""
    path = tmp_path / "child.lock"
    path.touch()
    yield path
    for holder in lock_holders(path):
        with contextlib.suppress(ProcessLookupError):
            os.kill(holder, signal.SIGKILL)
