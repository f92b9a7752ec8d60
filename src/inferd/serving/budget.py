"""The memory budget: which idle versions unload so that a load fits.

Policy, in order: a version that alone needs more than the budget fails at once; otherwise the
least recently used version that is serving and idle (nothing queued or running) unloads, again
until the incoming one fits; when only busy versions hold the budget the load fails with
Unavailable (retry), never waiting for traffic to stop. An evicted version keeps its artifact
and loads again on its next request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from inferd.errors import Unavailable
from inferd.serving.loading import take_down
from inferd.serving.stats import VersionState
from inferd.serving.version import ServedVersion

log = logging.getLogger(__name__)

EVICTED = "unloaded to stay within the memory budget; loads again on its next request"


async def make_room(
    incoming: ServedVersion, budget: int, holders: Callable[[], Iterable[ServedVersion]]
) -> None:
    """Unload idle versions among ``holders()`` until ``incoming`` fits in ``budget`` bytes."""
    need = incoming.size
    if need > budget:
        raise Unavailable(
            f"{incoming.label} needs {need} bytes, more than the memory budget of {budget}"
        )
    used = sum(v.size for v in holders() if v is not incoming and v.holds_memory)
    while used + need > budget:
        idle = [
            v
            for v in holders()
            if v is not incoming and v.serving and v.batcher is not None and not v.batcher.inflight
        ]
        if not idle:
            raise Unavailable(
                f"loading {incoming.label} needs {need} bytes of the memory budget and the "
                "models holding it are busy; retry",
                retry_after=1.0,
            )
        victim = min(idle, key=lambda v: v.last_used)
        log.info("evicting %s to make room for %s", victim.label, incoming.label)
        await take_down(victim, VersionState.UNAVAILABLE, EVICTED)
        victim.evicted = True
        used -= victim.size
