"""The CPU-time limit of a worker's model process, which the server sets before each call.

``RLIMIT_CPU`` counts the process's CPU time since it started, so the limit of a call is the
time used so far plus ``sandbox.max_cpu_seconds``, moved up before every call (the load, each
predict, the close). The worker used to move it itself, with an unlimited hard limit, and so
could the model's code: ``setrlimit(RLIMIT_CPU, (RLIM_INFINITY, …))`` took the guard away,
and a thread it left running between calls burned CPU for ever. The server moves it now
(``prlimit``), with the hard limit one second above the soft one: SIGXCPU at the soft limit
(the worker ends, "used up its CPU-time limit"), SIGKILL a second later for a model that
ignores SIGXCPU; a process raises its own hard limit only with CAP_SYS_RESOURCE, which the
worker drops. Raising it for the next call needs that capability in the server: a server
without it (not root) leaves the hard limit unlimited, as before, and the call's wall-clock
timeout (``sandbox.call_timeout_s``) is what stops a model that raised its soft limit.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import resource
from pathlib import Path

log = logging.getLogger(__name__)

#: Seconds between the soft limit (SIGXCPU) and the hard one (SIGKILL).
GRACE_S = 1
#: The bit of CAP_SYS_RESOURCE in a capability set.
CAP_SYS_RESOURCE = 24


def limit(pid: int, seconds: int) -> None:
    """Let the process ``pid`` use ``seconds`` more CPU time (a process gone is left alone:
    the call finds it dead; a refusal is logged, the call's wall-clock timeout still holds)."""
    try:
        soft = math.ceil(used(pid)) + seconds  # never less than ``seconds`` left
        hard = soft + GRACE_S if can_raise_hard_limits() else resource.RLIM_INFINITY
        resource.prlimit(pid, resource.RLIMIT_CPU, (soft, hard))
    except (ProcessLookupError, FileNotFoundError):
        pass
    except (OSError, ValueError) as exc:
        log.warning("could not set the CPU-time limit of sandbox process %d: %s", pid, exc)


def used(pid: int) -> float:
    """CPU seconds (user and system) the process ``pid`` used so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@functools.cache
def can_raise_hard_limits() -> bool:
    """Whether this process holds CAP_SYS_RESOURCE (raises another process's hard limits)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> CAP_SYS_RESOURCE & 1)
    return False


def model_process(keeper: int) -> int:
    """The process that runs the model of the worker ``keeper``, which made a PID namespace
    (:mod:`inferd.sandbox.pidns`): the keeper's only grandchild, as this process sees it.
    Asked once the worker said it started, before the model's code ran (and forked)."""
    found = keeper
    for _ in range(2):
        children = Path(f"/proc/{found}/task/{found}/children").read_text().split()
        if len(children) != 1:
            raise OSError(f"worker {keeper}: process {found} has {len(children)} children, not 1")
        found = int(children[0])
    return found
