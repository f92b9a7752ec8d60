"""Accounting over a window, as tables: held and used capacity, money held, used and idle,
cost per 1k predictions and per 1M tokens, scale-to-zero savings, and the window's edges."""

from __future__ import annotations

import pytest

from inferd.cost.accounting import (
    Account,
    ReplicaSlice,
    Tokens,
    VersionInterval,
    account,
    total,
    window,
)
from inferd.cost.capacity import Capacity
from inferd.cost.prices import Node, PriceBook
from inferd.spec.cost import CostSpec

#: One core-hour 3.6, one GiB-hour 0.36: a held core-second costs 0.001, a GiB-second 0.0001.
BOOK = PriceBook.of(CostSpec(cpu_core_hour=3.6, memory_gib_hour=0.36), Node(2, 8))
HELD = Capacity(cores=1.0, memory_gib=1.0)


def _slice(seconds: float, cores: float, gib: float = 0.5) -> ReplicaSlice:
    return ReplicaSlice(seconds, HELD, Capacity(cores, gib), peak_gib=gib)


def _interval(end: float, *replicas: ReplicaSlice, **fields: object) -> VersionInterval:
    return VersionInterval("fraud", "v1", end, 10.0, tuple(replicas), **fields)  # type: ignore[arg-type]


def _one(intervals: list[VersionInterval], book: PriceBook | None = BOOK) -> Account:
    (found,) = account(intervals, book)
    return found


def test_held_used_and_idle_money_of_two_replicas_over_two_intervals() -> None:
    # 2 replicas x 20 s: held 40 core-s (0.04) + 40 GiB-s (0.004) = 0.044
    # used: 0.25 cores x 40 s = 10 core-s (0.01) + 0.5 GiB x 40 s = 20 GiB-s (0.002) = 0.012
    intervals = [
        _interval(10, _slice(10, 0.25), _slice(10, 0.25), predictions=300),
        _interval(20, _slice(10, 0.25), _slice(10, 0.25), predictions=100),
    ]
    a = _one(intervals)
    assert (a.seconds, a.replica_seconds, a.replicas) == (20, 40, 2)
    assert (a.held.cores, a.held.memory_gib, a.used.cores, a.used.memory_gib) == (40, 40, 10, 20)
    assert a.money is not None
    assert a.money.held == pytest.approx(0.044)
    assert a.money.used == pytest.approx(0.012)
    assert a.money.idle == pytest.approx(0.032)
    assert a.idle_share == pytest.approx(0.032 / 0.044)
    assert a.predictions == 400
    assert a.per_1k_predictions == pytest.approx(0.044 / 400 * 1000)
    assert a.per_1m_tokens is None


CAPPED = [
    # (id, used cores, used GiB, idle money of one 10 s slice)
    ("all used: nothing idle", 1.0, 1.0, 0.0),
    ("CPU above the request is not idle and costs nothing more", 3.0, 1.0, 0.0),
    ("nothing used: all idle", 0.0, 0.0, 0.011),
    ("memory over, CPU half", 0.5, 2.0, 0.005),
]


@pytest.mark.parametrize(
    ("cores", "gib", "idle"), [c[1:] for c in CAPPED], ids=[c[0] for c in CAPPED]
)
def test_use_is_capped_at_what_is_held(cores: float, gib: float, idle: float) -> None:
    a = _one([_interval(10, ReplicaSlice(10, HELD, Capacity(cores, gib)))])
    assert a.money is not None
    assert a.money.held == pytest.approx(0.011)
    assert a.money.idle == pytest.approx(idle)


def test_a_replica_that_started_in_the_interval_pays_for_its_seconds_only() -> None:
    a = _one([_interval(10, _slice(10, 0), _slice(2.5, 0))])
    assert a.replica_seconds == 12.5
    assert a.money is not None and a.money.held == pytest.approx(12.5 * 0.0011)


def test_without_prices_capacity_is_counted_and_money_is_none() -> None:
    a = _one([_interval(10, _slice(10, 0.5), predictions=5)], book=None)
    assert a.money is None and a.per_1k_predictions is None and a.idle_share is None
    assert (a.held.cores, a.used.cores, a.predictions) == (10, 5, 5)


def test_no_predictions_means_no_cost_per_1k() -> None:
    a = _one([_interval(10, _slice(10, 0))])
    assert a.money is not None and a.money.held > 0
    assert a.per_1k_predictions is None


def test_tokens_give_a_cost_per_million() -> None:
    a = _one(
        [
            _interval(10, _slice(10, 1, 1), tokens=Tokens(prompt=300, generated=200)),
            _interval(20, _slice(10, 1, 1), tokens=Tokens(prompt=400, generated=100)),
        ]
    )
    assert a.tokens == Tokens(700, 300)
    assert a.per_1m_tokens == pytest.approx(0.022 / 1000 * 1e6)


def test_scale_to_zero_savings_price_one_replica_for_the_time_at_zero() -> None:
    # 10 s at zero; one replica would hold 1 core and 0.25 GiB: 0.01 + 0.00025
    zero = Capacity(1.0, 0.25)
    a = _one(
        [
            _interval(10, zero_seconds=10.0, zero=zero),
            _interval(20, _slice(10, 0.1), predictions=10),
        ]
    )
    assert a.money is not None
    assert a.money.saved_scale_to_zero == pytest.approx(0.01025)
    assert a.money.held == pytest.approx(0.011)
    assert a.replicas == 0.5


def test_a_gpu_slice_is_priced_by_the_product_of_its_interval() -> None:
    book = PriceBook.of(CostSpec(gpu_hour={"H100": 3.6}, discount=0.5), Node(2, 8))
    gpu = ReplicaSlice(10, Capacity(1, 1, 0.5), Capacity(0.2, 0.5, 0.25))
    a = _one([_interval(10, gpu, gpu_product="NVIDIA H100 80GB HBM3")], book)
    # held 0.5 GPU x 10 s x 0.001/GPU-s x 0.5 discount; used half of that
    assert a.money is not None
    assert a.money.held == pytest.approx(0.0025)
    assert a.money.idle == pytest.approx(0.00125)
    assert a.held.gpus == 5 and a.used.gpus == 2.5
    unpriced = _one([_interval(10, gpu, gpu_product="Tesla-T4")], book)
    assert unpriced.unpriced is not None and "T4" in unpriced.unpriced


def test_versions_are_accounted_apart_and_totalled() -> None:
    v1 = _interval(10, _slice(10, 0.5), predictions=50)
    shadow = VersionInterval("fraud", "v2-shadow", 10, 10.0, (_slice(10, 0.5),), shadow=True)
    accounts = account([v1, shadow], BOOK)
    assert [(a.version, a.shadow, a.predictions) for a in accounts] == [
        ("v1", False, 50),
        ("v2-shadow", True, 0),
    ]
    t = total(accounts, 10.0)
    assert t.money is not None and t.money.held == pytest.approx(0.022)
    assert t.per_1k_predictions == pytest.approx(0.022 / 50 * 1000)
    assert t.idle_share == pytest.approx(0.5)  # each used 0.005 + 0.0005 of its 0.011
    assert total(account([v1], None), 10).money is None


def test_the_window_takes_intervals_that_ended_inside_it() -> None:
    intervals = [_interval(end) for end in (100.0, 105.0, 110.0, 115.0)]
    assert [i.end for i in window(intervals, 115.0, 10.0)] == [110.0, 115.0]
    assert [i.end for i in window(intervals, 115.0, 10.5)] == [105.0, 110.0, 115.0]
    assert window(intervals, 200.0, 60.0) == []
