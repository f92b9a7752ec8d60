"""How long to wait before starting again a process that keeps dying: a python model's
sandbox worker, or a worker of ``inferd serve --workers N``.

The first restart is immediate (one death costs little), later ones back off exponentially to a
cap, as Kubernetes' CrashLoopBackOff does, so a process that dies on every start does not spin.
(``inferd up``'s replicas have their own policy, with a reset after a stable run:
:mod:`inferd.control.replicas.backoff`.)
"""

from __future__ import annotations

#: The second restart's delay, doubled for each later one up to the cap (seconds).
INITIAL_BACKOFF_S = 0.5
MAX_BACKOFF_S = 30.0


def restart_delay(deaths: int) -> float:
    """Seconds before restart number ``deaths`` of a run of consecutive deaths (1 = first)."""
    if deaths <= 1:
        return 0.0
    return min(MAX_BACKOFF_S, INITIAL_BACKOFF_S * 2.0 ** (deaths - 2))
