"""A trusted model cannot raise its own CPU-time limit: the server moves the limit before each
call. Before, the worker set it itself with an unlimited hard limit, and the model could do the
same: ``setrlimit(RLIMIT_CPU, (RLIM_INFINITY, …))`` took the guard away (a thread left running
between calls then burned CPU for ever)."""

from __future__ import annotations

import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from inferd.config import SandboxSettings
from inferd.sandbox import cpu

from .conftest import sandboxed_python

#: predict tries to raise its soft CPU-time limit to its hard one, and reports whether that
#: raised (1) and the soft limit afterwards.
RAISER = """
import resource
import numpy as np

class Model:
    def predict(self, inputs):
        soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
        try:
            resource.setrlimit(resource.RLIMIT_CPU, (hard, hard))
            refused = 0
        except (ValueError, OSError):
            refused = 1
        after, _ = resource.getrlimit(resource.RLIMIT_CPU)
        return {"refused": np.array([refused]), "soft": np.array([after])}
"""


def test_the_model_cannot_raise_its_cpu_time_limit(tmp_path: Path) -> None:
    settings = SandboxSettings(max_cpu_seconds=30)
    model = sandboxed_python(tmp_path / "model", RAISER, sandbox=settings)
    try:
        outputs = model.predict({"x": np.array([1])})
    finally:
        model.close()
    assert outputs["refused"].tolist() == [1]
    soft = int(outputs["soft"][0])
    assert soft != resource.RLIM_INFINITY and 30 <= soft <= 60  # the call's, used time + 30 s


#: predict burns 0.6 s of CPU time (measured by the process's own clock).
BURNER = """
import time
import numpy as np

class Model:
    def predict(self, inputs):
        start = time.process_time()
        while time.process_time() - start < 0.6:
            pass
        return {"y": inputs["x"]}
"""


def test_each_call_gets_its_own_cpu_time(tmp_path: Path) -> None:
    """Three calls of 0.6 s each under a 1 s limit per call: the server moves it every time."""
    settings = SandboxSettings(max_cpu_seconds=1)
    model = sandboxed_python(tmp_path / "model", BURNER, sandbox=settings)
    try:
        for _ in range(3):
            np.testing.assert_array_equal(model.predict({"x": np.array([1])})["y"], [1])
    finally:
        model.close()


@pytest.fixture
def sleeper() -> Iterator[int]:
    """A process of the test's own user, for ``prlimit``."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("can_raise", [True, False])
def test_the_hard_limit_is_a_second_above_the_soft_one_where_the_server_may_raise_it(
    sleeper: int, monkeypatch: pytest.MonkeyPatch, can_raise: bool
) -> None:
    """With CAP_SYS_RESOURCE the server raises the hard limit for the next call, so it keeps
    it one second above the soft one (SIGKILL for a model that ignores SIGXCPU); without, it
    leaves it unlimited, or the next call could not be given its time."""
    monkeypatch.setattr(cpu, "can_raise_hard_limits", lambda: can_raise)
    cpu.limit(sleeper, 30)
    soft, hard = resource.prlimit(sleeper, resource.RLIMIT_CPU)
    assert 30 <= soft <= 31  # it has used less than a second
    assert hard == (soft + cpu.GRACE_S if can_raise else resource.RLIM_INFINITY)
