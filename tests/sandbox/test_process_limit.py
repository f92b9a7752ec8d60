"""A trusted model's processes and threads are capped (``pidns.MAX_PROCESSES`` at once, the
``pid_max`` of its worker's PID namespace): a model that forks without end is stopped at the
cap, its worker ends with an error naming the cap, and every process it forked goes with it.
Before, nothing counted them (``RLIMIT_NPROC`` counts per user, and root ignores it): a model
forking 10,000 children took 10,000 of the host's pids (32768 on a default kernel), and a
fork bomb took them all, the server and every replica of ``inferd up`` with them.
"""

from __future__ import annotations

import errno
import logging
from pathlib import Path

import numpy as np
import pytest

from inferd.config import SandboxSettings
from inferd.errors import InvalidArgument, Unavailable
from inferd.sandbox import pidns, process
from inferd.sandbox.model import SandboxedModel
from inferd.sandbox.process import WorkerSpec

from .conftest import lock_released, sandboxed_python

capped = pytest.mark.skipif(
    not pidns.per_namespace_pid_max(), reason="this kernel keeps no pid_max per PID namespace"
)

#: ``fork_all`` forks a child that locks ``{lock}`` and sleeps (what the test watches end), then
#: starts 10,000 children (``posix_spawn``: a fork that copies no memory, fast on a busy machine)
#: that exit at once and are never waited for: each keeps its pid (a zombie), as a pool of live
#: ones would, at no memory. load starts them when ``{at_load}``, predict for the input 1;
#: predict reports the errno of raising its own cap for the input -1.
MODEL = """
import fcntl, os, time

def fork_all():
    if os.fork() == 0:
        fd = os.open({lock!r}, os.O_RDWR)
        fcntl.flock(fd, fcntl.LOCK_EX)
        open({lock!r} + ".held", "w").close()
        while True:
            time.sleep(1)
    while not os.path.exists({lock!r} + ".held"):
        time.sleep(0.01)
    for _ in range(10_000):
        os.posix_spawn("/bin/true", ["true"], {{}})


def raise_cap():
    try:
        with open("/proc/sys/kernel/pid_max", "w") as out:
            out.write("4194304")
        return 0
    except OSError as exc:
        return exc.errno


class Model:
    def load(self, path):
        if {at_load}:
            fork_all()

    def predict(self, inputs):
        if inputs["x"][0] == 1:
            fork_all()
        if inputs["x"][0] == -1:
            return {{"y": inputs["x"], "errno": np.array([raise_cap()])}}
        return {{"y": inputs["x"]}}
"""


def _load(directory: Path, lock: Path, *, at_load: bool = False, name: str = "m") -> SandboxedModel:
    code = "import numpy as np\n" + MODEL.format(lock=str(lock), at_load=at_load)
    return sandboxed_python(directory, code, name=name)


@capped
def test_a_model_forking_10000_children_is_stopped_at_the_cap_and_leaves_nothing(
    tmp_path: Path, lock: Path
) -> None:
    bomb = _load(tmp_path / "bomb", lock)
    other = _load(tmp_path / "other", tmp_path / "unused.lock", name="other")
    try:
        with pytest.raises(Unavailable, match=f"process limit .*{pidns.MAX_PROCESSES} at once"):
            bomb.predict({"x": np.array([1])})
        assert lock_released(lock), "a process the model forked outlived its worker"
        np.testing.assert_array_equal(other.predict({"x": np.array([2])})["y"], [2])
        np.testing.assert_array_equal(bomb.predict({"x": np.array([3])})["y"], [3])
    finally:
        bomb.close()
        other.close()


@capped
def test_a_model_forking_10000_children_at_its_load_is_refused_naming_the_cap(
    tmp_path: Path, lock: Path
) -> None:
    with pytest.raises(InvalidArgument, match="its worker reached its process limit"):
        _load(tmp_path / "bomb", lock, at_load=True)
    assert lock_released(lock), "a process the model forked outlived its worker"


@capped
def test_the_model_cannot_raise_its_cap(tmp_path: Path, lock: Path) -> None:
    model = _load(tmp_path / "model", lock)
    try:
        outputs = model.predict({"x": np.array([-1])})
    finally:
        model.close()
    assert outputs["errno"].tolist() == [errno.EROFS]


def test_a_kernel_without_a_pid_max_per_namespace_is_left_uncapped_and_said_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """There ``/proc/sys/kernel/pid_max`` is the host's: the worker is never asked to write it."""
    monkeypatch.setattr(pidns, "per_namespace_pid_max", lambda: False)
    process.process_cap.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger=process.__name__):
            spec = WorkerSpec.trusted(tmp_path, "model", "Model", SandboxSettings())
    finally:
        process.process_cap.cache_clear()
    assert spec.limits.max_processes is None
    assert "processes are not capped" in caplog.text
