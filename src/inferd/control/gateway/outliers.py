"""Passive outlier ejection, as Envoy's outlier detection does it: a replica that fails
:attr:`OutlierPolicy.consecutive_failures` times in a row (its connection refused, reset or
closed early, or an answer of 500, 502, 503 or 504) is ejected — sent no traffic while its
version has another replica to serve — for a time that grows with each ejection
(:attr:`~OutlierPolicy.base_ejection_s` times the number of recent ejections, at most
:attr:`~OutlierPolicy.max_ejection_s`), then comes back. Any other answer ends a run of
failures; a timeout counts neither way (a slow replica is not a broken one).

It fails open: at most :attr:`~OutlierPolicy.max_ejection_percent` of a version's ready replicas
are ejected at once (at least one where it has two or more), and never the last one serving.

The policy is pure: :func:`observe` reads and updates one replica's :class:`OutlierState` for
one outcome at the time ``now`` (``time.monotonic()``); :class:`~.balance.Balancer` keeps the
states and applies the ejections.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

#: Replica answers that count as failures (a model's error, a crash, a full queue, a proxy's
#: timeout); 501 (not implemented) is the request's fault, not the replica's.
FAILING_STATUSES: Final = frozenset({500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class OutlierPolicy:
    """When a replica is ejected and for how long (Envoy's names in parentheses)."""

    #: Failures in a row that eject a replica (``consecutive_5xx``).
    consecutive_failures: int = 5
    #: The first ejection's length; the n-th recent one lasts n times it
    #: (``base_ejection_time``).
    base_ejection_s: float = 30.0
    #: The longest an ejection lasts (``max_ejection_time``).
    max_ejection_s: float = 300.0
    #: The most of a version's ready replicas ejected at once, in percent; at least one of two
    #: or more, never the last one (``max_ejection_percent``).
    max_ejection_percent: float = 50.0
    #: Each such period a replica spends back in service forgets one past ejection, so a
    #: replica that has recovered starts again from :attr:`base_ejection_s` (``interval``).
    decay_s: float = 10.0


@dataclass(slots=True)
class OutlierState:
    """One replica's record: failures in a row, recent ejections, and until when it is out."""

    failures: int = 0
    ejections: int = 0
    #: ``time.monotonic()`` the current (or last) ejection ends; 0: never ejected.
    ejected_until: float = 0.0

    def ejected(self, now: float) -> bool:
        return self.ejected_until > now

    def settled(self, now: float, policy: OutlierPolicy) -> bool:
        """Whether nothing is left to remember: no failure run, no ejection to decay."""
        return self.failures == 0 and _recent_ejections(self, now, policy) == 0


def may_eject(ready: int, ejected: int, policy: OutlierPolicy) -> bool:
    """Whether one more of a version's ``ready`` replicas may be ejected while ``ejected`` of
    them are: within :attr:`~OutlierPolicy.max_ejection_percent` (at least one), and never the
    last one serving."""
    allowed = max(1, math.floor(ready * policy.max_ejection_percent / 100))
    return ejected < allowed and ejected + 1 < ready


def ejection_s(ejections: int, policy: OutlierPolicy) -> float:
    """How long the ``ejections``-th recent ejection lasts."""
    return min(policy.base_ejection_s * max(ejections, 1), policy.max_ejection_s)


def observe(
    state: OutlierState,
    failed: bool,
    now: float,
    policy: OutlierPolicy,
    *,
    ready: int,
    ejected: int,
) -> bool:
    """Count one outcome of the replica ``state`` describes (of a version with ``ready`` ready
    replicas, ``ejected`` of them ejected now, this one not included); True when it ejects the
    replica, until :attr:`OutlierState.ejected_until`.

    A failure while already ejected (a request that fell back on it, or was sent before) does
    not extend the ejection; a success ends the run of failures."""
    if not failed:
        state.failures = 0
        return False
    if state.ejected(now):
        return False
    state.failures += 1
    if state.failures < policy.consecutive_failures or not may_eject(ready, ejected, policy):
        return False
    state.ejections = _recent_ejections(state, now, policy) + 1
    state.ejected_until = now + ejection_s(state.ejections, policy)
    state.failures = 0
    return True


def _recent_ejections(state: OutlierState, now: float, policy: OutlierPolicy) -> int:
    """Ejections still remembered: one is forgotten per :attr:`~OutlierPolicy.decay_s` spent
    back in service since the last ended."""
    if state.ejections == 0 or state.ejected(now):
        return state.ejections
    back_for = now - state.ejected_until
    return max(0, state.ejections - int(back_for // policy.decay_s))
