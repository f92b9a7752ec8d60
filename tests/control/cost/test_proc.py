"""Reading a replica's process tree from the real ``/proc``: CPU time and memory of a process
and the child it started, a child's time kept once it exits, and a process that is gone."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from inferd.control.cost.proc import read_tree, this_machine

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")

#: A child that allocates 64 MiB, spins until it used 0.3 s of CPU, says so, then sleeps.
_CHILD = """
import sys, time
block = bytearray(64 * 2**20)
for i in range(0, len(block), 4096):
    block[i] = 1
while time.process_time() < 0.3:
    pass
print("spun", flush=True)
time.sleep(60)
"""
#: A parent that starts the child, relays its line, and sleeps.
_PARENT = f"""
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", {_CHILD!r}], stdout=subprocess.PIPE, text=True)
print(child.stdout.readline().strip(), child.pid, flush=True)
time.sleep(60)
"""


@pytest.fixture
def tree() -> Iterator[tuple[subprocess.Popen[str], int]]:
    parent = subprocess.Popen([sys.executable, "-c", _PARENT], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    said, child = parent.stdout.readline().split()
    assert said == "spun"
    try:
        yield parent, int(child)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(child), signal.SIGKILL)
        parent.kill()
        parent.wait()
        parent.stdout.close()


def test_a_tree_counts_its_child(tree: tuple[subprocess.Popen[str], int]) -> None:
    parent, child = tree
    whole = read_tree(parent.pid)
    alone = read_tree(child)
    assert whole is not None and alone is not None
    assert alone.cpu_seconds >= 0.25  # clock ticks of 10 ms
    assert whole.cpu_seconds >= alone.cpu_seconds
    assert alone.rss_bytes >= 64 * 2**20 and alone.peak_rss_bytes >= alone.rss_bytes
    assert whole.rss_bytes > alone.rss_bytes


def test_a_process_that_is_gone_reads_as_none() -> None:
    done = subprocess.run([sys.executable, "-c", "pass"], check=True)
    assert done.returncode == 0
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert read_tree(gone.pid) is None


def test_a_reaped_childs_time_stays_with_its_parent() -> None:
    script = (
        "import subprocess, sys, time\n"
        f"subprocess.run([sys.executable, '-c', {_CHILD.replace('time.sleep(60)', '')!r}],"
        " stdout=subprocess.DEVNULL)\n"
        "print('reaped', flush=True)\ntime.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None and parent.stdout.readline().strip() == "reaped"
        use = read_tree(parent.pid)
        assert use is not None and use.cpu_seconds >= 0.25
    finally:
        parent.kill()
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()


def test_this_machine_has_cores_and_memory() -> None:
    machine = this_machine()
    assert machine.cores >= 1 and 0 < machine.memory_gib < float("inf")
