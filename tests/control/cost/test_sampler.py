"""The cost sampler over fake sources: what one tick records per version (slices of each replica,
CPU since the last tick, predictions and mirrored copies, batches, scale-to-zero), what it keeps,
and its running totals. The clock is a list of times, so nothing here waits."""

from __future__ import annotations

import asyncio

import pytest

from inferd.control.cost.gpus import GpuReading
from inferd.control.cost.proc import ProcessUse
from inferd.control.cost.sampler import CostSampler
from inferd.control.gateway.readings import GatewayReading, ShadowTraffic, VersionTraffic
from inferd.cost.accounting import VersionInterval
from inferd.cost.capacity import GIB, Capacity
from inferd.spec.loading import parse_spec

from .conftest import BATCHES, SPEC, Fake, replica


def _tick(sampler: CostSampler) -> dict[tuple[str, str], VersionInterval]:
    return {i.key: i for i in asyncio.run(sampler.tick())}


def test_one_tick_records_each_version(fake: Fake) -> None:
    a, b = replica("fraud-v1-1", "v1", 11, 50), replica("fraud-v1-2", "v1", 12, 50)
    shadow = replica("fraud-v2-1", "v2", 13, 50)
    fake.replicas = [a, b, shadow]
    fake.uses = {11: ProcessUse(10.0, GIB // 4, GIB // 2), 12: ProcessUse(4.0, GIB // 4, GIB // 4),
                 13: ProcessUse(1.0, GIB // 8, GIB // 8)}  # fmt: skip
    fake.texts = {a.id: BATCHES.format(ones=5, all=5, rows=5)}
    sampler = fake.sampler()
    assert _tick(sampler) == {}  # the first reading is the baseline
    fake.uses[11] = ProcessUse(10.5, GIB // 4, GIB // 2)
    fake.uses[12] = ProcessUse(4.25, GIB // 2, GIB // 2)
    fake.traffic = GatewayReading(
        {("fraud", "v1"): VersionTraffic({"success": 9, "error": 1})},
        {("fraud", "v2"): ShadowTraffic({"compared": 8, "dropped": 2})},
    )
    fake.texts = {a.id: BATCHES.format(ones=10, all=12, rows=21)}
    fake.in_flight = {a.id: 2, b.id: 1}
    sampler.sample_concurrency()
    intervals = _tick(sampler)
    assert set(intervals) == {("fraud", "v1"), ("fraud", "v2"), ("churn", "v1")}
    v1 = intervals[("fraud", "v1")]
    assert (v1.end, v1.seconds, v1.predictions, v1.requests, v1.rows) == (105, 5, 9, 10, 16)
    assert v1.concurrency == (3.0,)
    assert v1.batches == ((1.0, 5.0), (2.0, 7.0), (float("inf"), 7.0))
    assert [(s.seconds, s.held, s.used) for s in v1.replicas] == [
        (5, Capacity(0.5, 1.0), Capacity(0.1, 0.25)),
        (5, Capacity(0.5, 1.0), Capacity(0.05, 0.5)),
    ]
    assert v1.replicas[0].peak_gib == 0.5 and not v1.shadow
    v2 = intervals[("fraud", "v2")]
    assert (v2.shadow, v2.predictions, v2.requests) == (True, 0, 8)
    assert v2.replicas[0].used.cores == 0  # no CPU since the baseline


def test_an_interval_ends_when_its_traffic_was_read_not_when_the_tick_began(fake: Fake) -> None:
    # On a busy machine the scrape takes seconds; requests answered meanwhile count in this
    # interval, so a window that begins with them must still hold it.
    clock = [100.0]
    fake.times = iter(lambda: clock[0], None)
    fake.replicas = [replica("fraud-v1-1", "v1", 11, 50)]
    sampler = fake.sampler()
    asyncio.run(sampler.tick())

    def slow_scrape() -> None:
        clock[0] += 3  # from 105 to 108; the requests came at 106
        fake.traffic = GatewayReading({("fraud", "v1"): VersionTraffic({"success": 7})}, {})

    fake.during_scrape = slow_scrape
    clock[0] = 105.0
    (v1,) = [i for i in asyncio.run(sampler.tick()) if i.key == ("fraud", "v1")]
    assert (v1.end, v1.seconds, v1.predictions) == (108, 8, 7)
    clock[0] = 108.5
    since_the_requests = sampler.intervals(window_s=2.5)
    assert sum(i.predictions for i in since_the_requests) == 7


def test_a_replica_that_started_in_the_interval_holds_it_for_its_seconds(fake: Fake) -> None:
    sampler = fake.sampler()
    _tick(sampler)
    fake.replicas = [replica("fraud-v1-1", "v1", 21, 103.0)]
    fake.uses = {21: ProcessUse(1.0, GIB // 4, GIB // 4)}
    (s,) = _tick(sampler)[("fraud", "v1")].replicas
    assert s.seconds == 2.0
    assert s.used.cores == 0.5  # all its CPU time is new: 1 s over 2 s


def test_a_deployment_at_zero_records_what_it_saved(fake: Fake) -> None:
    sampler = fake.sampler()
    _tick(sampler)
    churn = _tick(sampler)[("churn", "v1")]
    assert churn.zero_seconds == 5
    # no request: one core, and no peak RSS measured yet
    assert churn.zero == Capacity(1.0, 0.0)
    fake.replicas = [replica("churn-v1-1", "v1", 31, 112.0, "churn")]
    fake.uses = {31: ProcessUse(0.1, GIB // 8, GIB // 8)}
    assert _tick(sampler)[("churn", "v1")].zero_seconds == 0


def test_a_retiring_version_keeps_its_resources(fake: Fake) -> None:
    sampler = fake.sampler()
    _tick(sampler)
    _tick(sampler)
    fake.spec = parse_spec(
        SPEC.replace("name: v2", "name: v3").replace("shadow: v2", "shadow: v3"), "x"
    )
    fake.replicas = [replica("fraud-v2-1", "v2", 41, 50)]
    fake.uses = {41: ProcessUse(1.0, GIB // 8, GIB // 8)}
    v2 = _tick(sampler)[("fraud", "v2")]
    assert v2.replicas[0].held == Capacity(0.5, 1.0)


def test_gpus_are_priced_by_the_machines_product_and_share_memory(fake: Fake) -> None:
    fake.spec = parse_spec(SPEC.replace("{cpu: 500m, memory: 1Gi}", "{gpu: 1}"), "x")
    fake.replicas = [replica("fraud-v1-1", "v1", 51, 50), replica("fraud-v2-1", "v2", 52, 50)]
    fake.uses = {51: ProcessUse(1.0, GIB, GIB), 52: ProcessUse(1.0, GIB, GIB)}
    fake.gpu = GpuReading(
        "NVIDIA H100 80GB HBM3", busy=0.25, memory_used_gib=10, memory_total_gib=80
    )
    sampler = fake.sampler()
    _tick(sampler)
    v1 = _tick(sampler)[("fraud", "v1")]
    assert v1.gpu_product == "NVIDIA H100 80GB HBM3"
    (s,) = v1.replicas
    assert (s.held.gpus, s.used.gpus, s.gpu_memory_gib) == (1, 0.25, 5.0)
    assert sampler.gpu is fake.gpu


def test_totals_add_up_and_old_intervals_go(fake: Fake) -> None:
    fake.replicas = [replica("fraud-v1-1", "v1", 61, 50)]
    fake.uses = {61: ProcessUse(0.0, GIB // 2, GIB // 2)}
    sampler = fake.sampler()
    for _ in range(4):  # 100 (baseline), 105, 110, 115
        fake.traffic = GatewayReading(
            {
                ("fraud", "v1"): VersionTraffic(
                    {"success": fake.traffic.version("fraud", "v1").requests + 5}
                )
            }
        )
        _tick(sampler)
    t = sampler.totals[("fraud", "v1")]
    # 3 intervals of 5 s, one replica holding 0.5 core and 1 GiB: 15 s x (0.0005 + 0.0001)
    assert (t.replica_seconds, t.predictions) == (15, 15)
    assert t.money_held == pytest.approx(0.009)
    assert t.money_idle == pytest.approx(0.009 - 15 * 0.5 * 0.0001)
    assert sampler.currency == "EUR"
    assert sorted({i.end for i in sampler.intervals()}) == [105.0, 110.0, 115.0]
    _tick(sampler)  # at 200, everything before 140 is gone
    assert {i.end for i in sampler.intervals()} == {200.0}


def test_a_change_of_currency_starts_the_money_again(fake: Fake) -> None:
    fake.replicas = [replica("fraud-v1-1", "v1", 71, 50)]
    fake.uses = {71: ProcessUse(0.0, GIB, GIB)}
    sampler = fake.sampler()
    _tick(sampler)
    _tick(sampler)
    assert sampler.totals[("fraud", "v1")].money_held > 0
    fake.spec = parse_spec(SPEC.replace("currency: EUR", "currency: USD"), "x")
    _tick(sampler)
    t = sampler.totals[("fraud", "v1")]
    assert sampler.currency == "USD"
    assert t.money_held == pytest.approx(5 * 0.0006)  # only the interval priced in USD
    assert t.replica_seconds == 10  # capacity is no currency's


def test_an_exiting_replica_still_holds_its_peak_memory(fake: Fake) -> None:
    """An exiting process (a zombie until reaped) has no VmRSS or VmHWM in /proc: it used
    nothing, but a replica without a memory request held its peak RSS to the end, and the
    report prices its replica-hour from that last slice."""
    churn = replica("churn-v1-1", "v1", 31, 90.0, "churn")
    fake.replicas = [churn]
    fake.uses = {31: ProcessUse(0.1, GIB // 8, GIB // 8)}
    sampler = fake.sampler()
    _tick(sampler)
    (running,) = _tick(sampler)[("churn", "v1")].replicas
    assert running.held == Capacity(1.0, 0.125)
    fake.uses = {31: ProcessUse(0.2, 0, 0)}  # exiting
    (exiting,) = _tick(sampler)[("churn", "v1")].replicas
    assert exiting.held == Capacity(1.0, 0.125)
    assert exiting.used.memory_gib == 0 and exiting.peak_gib == 0.125


def test_a_replica_holds_the_resources_it_started_with_while_a_new_spec_replaces_it(
    fake: Fake,
) -> None:
    """`inferd apply` with smaller requests starts new replicas and drains the old ones: until
    they exit, the old ones still hold what they were started with."""
    fake.replicas = [replica("fraud-v1-1", "v1", 11, 50)]
    fake.uses = {11: ProcessUse(1.0, GIB // 4, GIB // 4), 12: ProcessUse(0.1, GIB // 8, GIB // 8)}
    sampler = fake.sampler()
    _tick(sampler)
    _tick(sampler)
    fake.spec = parse_spec(SPEC.replace("{cpu: 500m, memory: 1Gi}", "{cpu: 250m, memory: 512Mi}"))
    fake.replicas = [replica("fraud-v1-1", "v1", 11, 50), replica("fraud-v1-2", "v1", 12, 106)]
    old, new = _tick(sampler)[("fraud", "v1")].replicas
    assert (old.seconds, old.held) == (5, Capacity(0.5, 1.0))
    assert (new.seconds, new.held) == (4, Capacity(0.25, 0.5))
    fake.replicas = [replica("fraud-v1-1", "v1", 13, 112)]  # the same replica, a new process
    fake.uses[13] = ProcessUse(0.1, GIB // 8, GIB // 8)
    (restarted,) = _tick(sampler)[("fraud", "v1")].replicas
    assert restarted.held == Capacity(0.25, 0.5)


def test_a_deployment_woken_in_the_interval_saved_the_seconds_before(fake: Fake) -> None:
    sampler = fake.sampler()
    _tick(sampler)
    _tick(sampler)  # 100 to 105 at zero
    fake.replicas = [replica("churn-v1-1", "v1", 31, 108.0, "churn")]  # woken at 108
    fake.uses = {31: ProcessUse(0.1, GIB // 8, GIB // 8)}
    churn = _tick(sampler)[("churn", "v1")]
    assert churn.replicas[0].seconds == 2
    assert (churn.zero_seconds, churn.zero) == (3, Capacity(1.0, 0.125))
    assert _tick(sampler)[("churn", "v1")].zero_seconds == 0  # running the whole interval
