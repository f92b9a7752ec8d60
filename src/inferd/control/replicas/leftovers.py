"""Replica processes an earlier ``inferd up`` of the store left running, stopped by the next.

A replica holds a parent-death signal (:mod:`.child`): when its ``inferd up`` dies without
stopping it (SIGKILL, the OOM killer), the kernel sends it SIGTERM, and it drains. One that
does not end on it — hung, stopped, a request stuck in its model — has nobody left to SIGKILL
it: its drain is bounded only by :data:`~.launch.REPLICA_DRAIN_S`, a day, while it holds its
memory (or GPU). Each replica's environment names its store (:data:`MARK`), so the next ``inferd
up`` of that store, which holds its ``up.lock`` (no other runs), finds them in ``/proc``
(Linux) and stops them as its own stop would: SIGTERM, then SIGKILL after the drain timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

#: The variable in each replica's environment naming its ``inferd up``'s store (no ``INFERD_``
#: prefix: ``inferd serve`` reads those as settings, and warns of one it does not know).
MARK = "_INFERD_UP_STORE"
#: How often the processes are looked at while they drain.
POLL_S = 0.1
#: How long a process SIGKILLed is waited for (one in uninterruptible sleep, in a driver, may
#: take a while).
KILL_WAIT_S = 5.0


def leftovers(home: Path) -> list[int]:
    """The processes whose environment marks them replicas (or their children) of an ``inferd
    up`` of ``home``, this process aside; none without ``/proc``."""
    needle = f"\0{MARK}={home}\0".encode()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        pid = int(entry.name)
        if pid == os.getpid():
            continue
        with contextlib.suppress(OSError):  # gone meanwhile, or not ours to read
            if needle in b"\0" + (entry / "environ").read_bytes() and _alive(pid):
                found.append(pid)
    return sorted(found)


async def stop_leftovers(home: Path, grace_s: float) -> str | None:
    """SIGTERM the :func:`leftovers` of ``home`` (SIGCONT too: a stopped one acts on it),
    and SIGKILL those still running after ``grace_s``; what was done, in words (None: none
    was found)."""
    pids = await asyncio.to_thread(leftovers, home)
    if not pids:
        return None
    for pid in pids:
        _signal(pid, signal.SIGTERM)
        _signal(pid, signal.SIGCONT)
    running = await _exited(pids, grace_s)
    for pid in running:
        _signal(pid, signal.SIGKILL)
    unkillable = await _exited(running, KILL_WAIT_S)
    found = ", ".join(map(str, pids))
    killed = f"; SIGKILL after {grace_s:g} s: {', '.join(map(str, running))}" if running else ""
    left = f"; still running after SIGKILL: {', '.join(map(str, unkillable))}" if unkillable else ""
    return (
        f"replica processes an earlier inferd up of this store left: {found} (it died without "
        f"stopping them); stopped with SIGTERM{killed}{left}"
    )


async def _exited(pids: list[int], timeout_s: float) -> list[int]:
    """Wait up to ``timeout_s`` for ``pids`` to exit: those still running."""
    deadline = time.monotonic() + timeout_s
    running = [pid for pid in pids if _alive(pid)]
    while running and time.monotonic() < deadline:
        await asyncio.sleep(POLL_S)
        running = [pid for pid in running if _alive(pid)]
    return running


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _alive(pid: int) -> bool:
    """Running, not a zombie (reaped by whoever its parent is now)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"
