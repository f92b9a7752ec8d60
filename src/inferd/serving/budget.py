"""The memory budget: how much a loaded version holds, and which idle versions unload to fit.

What a version holds is measured, not guessed from its files: the process's resident memory
(RSS) is read before and after the version's load and warm-up (one load at a time), and the
version is charged the growth, or its files' size if that is larger (memory freed earlier and
reused by this load does not show as growth; a sandboxed worker's memory lives in another
process). It is an estimate: requests served meanwhile allocate too. A version never loaded is
charged its files' size until it is.

Policy, in order: a version that alone needs more than the budget fails at once, as an invalid
argument rather than Unavailable (no retry can make it fit: the budget must grow); otherwise the
least recently used version that is serving and idle (no batch running, no generation under
way) unloads, again
until the incoming one fits; when only busy versions hold the budget the load fails with
Unavailable (retry), never waiting for traffic to stop. When a loaded version measures more
than it was charged, idle versions unload until the budget holds again (a warning if only busy
ones are left); one that alone measures more than the budget is unloaded and FAILED, again as
an invalid argument. An
evicted version keeps its artifact and loads again on its next request.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from inferd.errors import InvalidArgument, Unavailable
from inferd.serving.loading import take_down
from inferd.serving.stats import VersionState
from inferd.serving.version import ServedVersion

log = logging.getLogger(__name__)

_STATM = Path("/proc/self/statm")
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

EVICTED = "unloaded to stay within the memory budget; loads again on its next request"
#: Said of a version larger than the whole budget: retrying cannot help.
_NEVER_FITS = " as a whole: it cannot load until the budget (--memory-budget) is raised"


class BudgetBusy(Unavailable):
    """No room in the budget now: only busy versions hold it. An evicted version refused so
    stays evicted (its next request tries again)."""


#: Reads the process's resident memory in bytes (None: cannot be read here).
Meter = Callable[[], int | None]


def resident_bytes() -> int | None:
    """The process's resident memory now (Linux ``/proc``; None where it cannot be read)."""
    try:
        pages = int(_STATM.read_bytes().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * _PAGE_SIZE


async def make_room(
    incoming: ServedVersion, budget: int, holders: Callable[[], Iterable[ServedVersion]]
) -> None:
    """Unload idle versions among ``holders()`` until ``incoming`` fits in ``budget`` bytes."""
    need = incoming.size
    if need > budget:
        raise InvalidArgument(
            f"{incoming.label} needs {need} bytes, more than the memory budget of {budget}"
            f"{_NEVER_FITS}"
        )
    if not await _evict(budget - need, holders, incoming):
        raise BudgetBusy(
            f"loading {incoming.label} needs {need} bytes of the memory budget and the "
            "models holding it are busy; retry",
            retry_after=1.0,
        )


async def settle(
    loaded: ServedVersion, budget: int, holders: Callable[[], Iterable[ServedVersion]]
) -> None:
    """After ``loaded`` was measured: unload idle others while the budget is exceeded.

    Raises InvalidArgument when ``loaded`` alone holds more than the budget (the caller
    unloads it).
    """
    if loaded.memory > budget:
        raise InvalidArgument(
            f"{loaded.label} measured {loaded.memory} bytes once loaded, more than the memory "
            f"budget of {budget}{_NEVER_FITS}"
        )
    if not await _evict(budget - loaded.memory, holders, loaded):
        log.warning(
            "the memory budget of %d bytes is exceeded since %s loaded (%d bytes), until a "
            "busy version goes idle and a later load evicts it",
            budget, loaded.label, loaded.memory,
        )  # fmt: skip


async def _evict(
    room: int, holders: Callable[[], Iterable[ServedVersion]], spare: ServedVersion
) -> bool:
    """Unload idle versions, least recently used first, until the others (all but ``spare``)
    hold at most ``room`` bytes; False if only busy ones are left above it."""
    used = sum(v.memory for v in holders() if v is not spare)
    while used > room:
        idle = [v for v in holders() if v is not spare and v.serving and not v.busy]
        if not idle:
            return False
        victim = min(idle, key=lambda v: v.last_used)
        log.info("evicting %s to make room for %s", victim.label, spare.label)
        used -= victim.memory
        # Marked first: a request arriving while it closes waits, then loads it again (its
        # reload waits for the load lock this eviction runs under), rather than getting 503.
        victim.evicted = True
        await take_down(victim, VersionState.UNAVAILABLE, EVICTED)
    return True
