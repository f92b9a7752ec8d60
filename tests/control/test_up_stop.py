"""``inferd down``'s wait: a process that drains is waited for, one that does not is killed at
the timeout, and a zombie (exited, its parent not waiting yet) counts as stopped."""

from __future__ import annotations

import subprocess
import sys

from inferd.control.up_state import stop

#: A child that ignores SIGTERM, as an ``inferd up`` stuck in its drain would.
DEAF = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True); time.sleep(60)"  # noqa: E501


def test_a_process_that_does_not_exit_is_killed_at_the_timeout() -> None:
    with subprocess.Popen([sys.executable, "-c", DEAF], stdout=subprocess.PIPE) as deaf:
        assert deaf.stdout is not None and deaf.stdout.readline()  # its handler is set
        stopped = stop(deaf.pid, 0.3, poll_s=0.02)
        assert stopped.killed and stopped.seconds >= 0.3
        assert deaf.wait(5) == -9


def test_a_process_that_exits_on_sigterm_is_not_killed_even_unreaped() -> None:
    """The test is its parent and waits only afterwards: the exited child is a zombie, which
    ``kill(pid, 0)`` still finds; the wait must not run to the timeout and kill."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stopped = stop(child.pid, 30, poll_s=0.02)
    assert not stopped.killed and stopped.seconds < 30
    assert child.wait(5) == -15
