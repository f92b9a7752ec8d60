"""The outlier policy as a table: failures in a row eject a replica for a time growing with each
recent ejection (capped), a success ends a run, a replica back in service long enough starts
over, and never more than the allowed share of a version's replicas, nor its last one, is out."""

from __future__ import annotations

import pytest

from inferd.control.gateway.outliers import (
    OutlierPolicy,
    OutlierState,
    ejection_s,
    may_eject,
    observe,
)

POLICY = OutlierPolicy(
    consecutive_failures=3, base_ejection_s=10.0, max_ejection_s=25.0, decay_s=5.0
)


def _fail(state: OutlierState, now: float, times: int, ready: int = 2, ejected: int = 0) -> bool:
    out = False
    for _ in range(times):
        out = observe(state, True, now, POLICY, ready=ready, ejected=ejected)
    return out


def test_failures_in_a_row_eject_and_a_success_ends_a_run() -> None:
    state = OutlierState()
    assert not _fail(state, 0.0, 2)
    assert not observe(state, False, 0.0, POLICY, ready=2, ejected=0)  # the run ends
    assert not _fail(state, 0.0, 2)
    assert not state.ejected(0.0)
    assert _fail(state, 0.0, 1)
    assert state.ejected(9.9) and not state.ejected(10.0)
    assert state.ejections == 1 and state.failures == 0


def test_failures_while_ejected_do_not_extend_the_ejection() -> None:
    state = OutlierState()
    assert _fail(state, 0.0, 3)
    assert not _fail(state, 5.0, 10)
    assert state.ejected_until == 10.0


def test_each_recent_ejection_lasts_longer_up_to_the_cap() -> None:
    state = OutlierState()
    assert _fail(state, 0.0, 3)  # out until 10
    assert _fail(state, 11.0, 3)  # back 1 s: the second lasts 20 s
    assert state.ejected_until == 31.0 and state.ejections == 2
    assert _fail(state, 32.0, 3)  # the third would last 30 s: capped at 25
    assert state.ejected_until == 57.0
    assert [ejection_s(n, POLICY) for n in (0, 1, 2, 3, 9)] == [10.0, 10.0, 20.0, 25.0, 25.0]


def test_time_back_in_service_forgets_past_ejections() -> None:
    state = OutlierState()
    assert _fail(state, 0.0, 3)
    assert _fail(state, 11.0, 3)  # ejections: 2, out until 31
    assert not state.settled(31.0, POLICY)
    assert _fail(state, 36.0, 3)  # 5 s back forgets one: this is the 2nd again (20 s)
    assert state.ejections == 2 and state.ejected_until == 56.0
    assert state.settled(56.0 + 2 * POLICY.decay_s, POLICY)
    assert _fail(state, 100.0, 3)
    assert state.ejections == 1 and state.ejected_until == 110.0


@pytest.mark.parametrize(
    ("ready", "ejected", "percent", "allowed"),
    [
        (1, 0, 50.0, False),  # the last one serving stays, however it fails (fail open)
        (2, 0, 50.0, True),
        (2, 1, 50.0, False),
        (2, 0, 10.0, True),  # at least one of two or more
        (2, 1, 100.0, False),  # never the last one
        (4, 1, 50.0, True),
        (4, 2, 50.0, False),
        (10, 0, 10.0, True),
        (10, 1, 10.0, False),
    ],
)
def test_at_most_a_share_of_a_version_and_never_its_last_replica(
    ready: int, ejected: int, percent: float, allowed: bool
) -> None:
    policy = OutlierPolicy(max_ejection_percent=percent)
    assert may_eject(ready, ejected, policy) is allowed


def test_a_replica_over_the_share_keeps_serving_and_is_ejected_once_there_is_room() -> None:
    state = OutlierState()
    assert not _fail(state, 0.0, 5, ready=2, ejected=1)  # its sibling is out
    assert not state.ejected(0.0)
    assert _fail(state, 0.0, 1, ready=2, ejected=0)  # the sibling is back: its run counts
    assert not _fail(OutlierState(), 0.0, 50, ready=1)  # alone: never ejected
