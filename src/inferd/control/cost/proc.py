"""What a replica's processes use, read from Linux's ``/proc``: CPU time and resident memory.

A replica is an ``inferd serve`` process and whatever it started (the isolated worker of a
``python`` runtime version), so a reading covers the process tree: the process and its live
descendants, found through ``/proc/<pid>/task/<tid>/children``. Each process counts its own CPU
time and that of the children it has reaped (``utime + stime + cutime + cstime``), so the time
of a worker that exits moves into its parent's count instead of vanishing.

On a system without ``/proc`` (macOS, Windows) there is nothing to read: every reading is None,
and ``inferd cost`` shows held capacity and money without the used side.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from inferd.cost.capacity import GIB
from inferd.cost.prices import Node

PROC = Path("/proc")
#: Fields of ``/proc/<pid>/stat`` after the command name: utime, stime, cutime, cstime.
_TIMES = slice(11, 15)
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True, slots=True)
class ProcessUse:
    """One replica's process tree at one moment."""

    #: CPU seconds, user and system, since each process started.
    cpu_seconds: float
    #: Resident memory now, and the largest it has been (``VmRSS``, ``VmHWM``), bytes.
    rss_bytes: int
    peak_rss_bytes: int


def read_tree(pid: int, proc: Path = PROC) -> ProcessUse | None:
    """The use of ``pid`` and its live descendants; None when ``pid`` is gone (or no /proc)."""
    cpu, rss, peak = 0.0, 0, 0
    pending, seen = [pid], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        one = _read_one(proc / str(current))
        if one is None:
            if current == pid:
                return None
            continue  # a descendant that exited meanwhile
        cpu += one.cpu_seconds
        rss += one.rss_bytes
        peak += one.peak_rss_bytes
        pending.extend(_children(proc / str(current)))
    return ProcessUse(cpu, rss, peak)


def _read_one(path: Path) -> ProcessUse | None:
    try:
        stat = (path / "stat").read_text()
        status = (path / "status").read_text()
    except OSError:  # gone, or not ours to read
        return None
    # The command name (field 2) is in parentheses and may hold spaces or ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    cpu = sum(int(f) for f in fields[_TIMES]) / _TICKS
    memory = {}
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            memory[key] = int(value.split()[0]) * 1024
    # A zombie has no memory lines: it holds none.
    return ProcessUse(cpu, memory.get("VmRSS", 0), memory.get("VmHWM", 0))


def _children(path: Path) -> list[int]:
    try:
        tasks = list((path / "task").iterdir())
    except OSError:
        return []
    children: list[int] = []
    for task in tasks:
        try:
            children.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):  # a thread that ended, or no CONFIG_PROC_CHILDREN
            continue
    return children


def this_machine() -> Node:
    """The cores and memory of the machine ``inferd up`` runs on: what ``price_per_node_hour``
    buys when the spec names no node."""
    cores = os.cpu_count() or 1
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no sysconf: price by cores alone
        memory = 0
    return Node(float(cores), memory / GIB if memory > 0 else float("inf"))
