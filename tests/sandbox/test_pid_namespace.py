"""A trusted model sees and signals only its own processes: its worker runs in a PID namespace of
its own, with a ``/proc`` of that namespace. Before, it shared the server's user and PID
namespace: it could list every process of the host with its command line, signal the server
and its other replicas, and read ``/proc/<server>/environ`` (the server's secrets); a process
it forked that left the worker's process group (``setsid``) outlived the worker."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .conftest import lock_released, sandboxed_python

#: predict reports the processes its /proc lists, then the errno of ``kill(SERVER, 0)`` and of
#: reading the server's environment (0: it could).
SNOOP = """
import os
import numpy as np

SERVER = {server}


def attempt(action):
    try:
        action()
        return 0
    except OSError as exc:
        return exc.errno or -1


class Model:
    def predict(self, inputs):
        pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
        environ = lambda: open(f"/proc/{{SERVER}}/environ", "rb").read()
        codes = [attempt(lambda: os.kill(SERVER, 0)), attempt(environ)]
        return {{"pids": np.array(pids), "errno": np.array(codes)}}
"""


def test_the_model_sees_and_signals_none_of_the_servers_processes(tmp_path: Path) -> None:
    model = sandboxed_python(tmp_path / "model", SNOOP.format(server=os.getpid()))
    try:
        outputs = model.predict({"x": np.array([1])})
    finally:
        model.close()
    assert outputs["pids"].tolist() == [1, 2]  # the namespace's init and the model's process
    assert outputs["errno"].tolist() == [errno.ESRCH, errno.ENOENT]


#: predict forks a child that leaves the worker's process group (``setsid``), locks ``{lock}``
#: and sleeps for ever; predict answers once the child holds the lock.
ESCAPE = """
import fcntl, os, time
import numpy as np

class Model:
    def predict(self, inputs):
        if os.fork() == 0:
            os.setsid()
            fd = os.open({lock!r}, os.O_RDWR)
            fcntl.flock(fd, fcntl.LOCK_EX)
            open({held!r}, "w").close()
            while True:
                time.sleep(1)
        while not os.path.exists({held!r}):
            time.sleep(0.01)
        return {{"y": inputs["x"]}}
"""


def test_a_child_that_left_the_process_group_ends_with_the_worker(
    tmp_path: Path, lock: Path
) -> None:
    held = tmp_path / "held"
    model = sandboxed_python(tmp_path / "model", ESCAPE.format(lock=str(lock), held=str(held)))
    try:
        np.testing.assert_array_equal(model.predict({"x": np.array([1])})["y"], [1])
        assert held.exists()
    finally:
        model.close()
    assert lock_released(lock), "the model's setsid child outlived its closed worker"


#: predict leaves an orphan (a child forks a grandchild and exits; the grandchild exits), then
#: reports whether the orphan was reaped (its /proc entry gone) before a deadline.
ORPHAN = """
import os, time
import numpy as np

class Model:
    def predict(self, inputs):
        read, write = os.pipe()
        child = os.fork()
        if child == 0:
            grandchild = os.fork()
            if grandchild == 0:
                os.read(read, 1)  # until its parent is gone
                os._exit(0)
            os.write(write, str(grandchild).encode().rjust(16))
            os._exit(0)
        os.waitpid(child, 0)
        orphan = int(os.read(read, 16))
        os.write(write, b"x")
        deadline = time.monotonic() + 30
        while os.path.exists(f"/proc/{orphan}") and time.monotonic() < deadline:
            time.sleep(0.01)
        return {"reaped": np.array([not os.path.exists(f"/proc/{orphan}")])}
"""


def test_an_orphan_the_model_leaves_is_reaped(tmp_path: Path) -> None:
    model = sandboxed_python(tmp_path / "model", ORPHAN)
    try:
        assert model.predict({"x": np.array([1])})["reaped"].tolist() == [True]
    finally:
        model.close()


#: A server in a mount namespace of its own whose /proc is masked as a container runtime masks
#: it: /dev/null over a file, an empty tmpfs over a directory. Its model reports how many
#: bytes it read from the file and what the directory lists.
MASKED_SERVER = """
import subprocess, sys, textwrap
from pathlib import Path
import numpy as np
from inferd.card import ModelCard
from inferd.runtimes import LoadOptions, get_runtime

subprocess.run(["mount", "--bind", "/dev/null", "/proc/timer_list"], check=True)
subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=0", "tmpfs", "/proc/acpi"], check=True)
Path(sys.argv[1], "model.py").write_text(textwrap.dedent('''
    import os
    import numpy as np

    class Model:
        def predict(self, inputs):
            with open("/proc/timer_list", "rb") as f:
                read = len(f.read())
            return {"read": np.array([read]), "listed": np.array([len(os.listdir("/proc/acpi"))])}
'''))
card = ModelCard(name="m", runtime="python", entrypoint="model:Model")
model = get_runtime("python").load(Path(sys.argv[1]), card, LoadOptions(trust_code=True))
outputs = model.predict({"x": np.array([1])})
model.close()
print(int(outputs["read"][0]), int(outputs["listed"][0]))
"""


@pytest.mark.skipif(
    os.geteuid() != 0 or not Path("/proc/timer_list").exists() or not Path("/proc/acpi").is_dir(),
    reason="needs root (mounts) and a /proc with timer_list and acpi",
)
def test_what_the_host_masked_in_proc_stays_masked(tmp_path: Path) -> None:
    """A container runtime masks parts of /proc (``/proc/kcore``, ``/proc/timer_list``,
    ``/proc/acpi``…); the worker's fresh /proc would have shown them again."""
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", sys.executable, "-c", MASKED_SERVER,
         str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["0", "0"]
