"""Prices changed mid-window (an ``inferd apply`` of a new ``cost:`` section): each interval
is priced at the prices in effect when it was measured, so ``inferd cost report`` and the
``inferd_cost_*`` counters agree on the same time, and a cheaper price from now on does not
rewrite the money already spent. Only an interval measured in another currency, which cannot be
added to amounts in the new one, is priced at the prices the spec has now."""

from __future__ import annotations

import asyncio

import pytest

from inferd.control.cost.documents import cost_report, cost_status
from inferd.control.cost.proc import ProcessUse
from inferd.control.cost.sampler import CostSampler
from inferd.cost.capacity import GIB
from inferd.spec.loading import parse_spec

from .conftest import SPEC, Fake, replica

#: One replica of fraud/v1 (500m, 1Gi) for 5 s: 0.5 x 3.6 + 1 x 0.36 = 2.16 EUR/h -> 0.003.
FIRST = 2.16 * 5 / 3600


def _two_intervals(fake: Fake, second: str) -> CostSampler:
    """fraud/v1's one replica over two 5 s intervals: the first at SPEC's prices, the second
    after an apply of ``second``'s."""
    fake.replicas = [replica("fraud-v1-1", "v1", 11, 50)]
    fake.uses = {11: ProcessUse(0.0, GIB // 4, GIB // 4)}
    sampler = fake.sampler()
    asyncio.run(sampler.tick())  # 100: the baseline
    asyncio.run(sampler.tick())  # 105: at SPEC's prices
    fake.spec = parse_spec(SPEC.replace(*second.split(" -> ")), "inferd.yaml")
    asyncio.run(sampler.tick())  # 110: at the new ones
    fake.times = iter([112.0] * 10)
    return sampler


def _v1(report: dict[str, object]) -> dict[str, object]:
    versions = report["versions"]
    assert isinstance(versions, list)
    return next(v for v in versions if v["version"] == "v1" and v["deployment"] == "fraud")


def test_each_interval_is_priced_at_the_prices_of_its_time(fake: Fake) -> None:
    sampler = _two_intervals(fake, "cpu_core_hour: 3.6 -> cpu_core_hour: 7.2")
    report = cost_report(sampler, 60)
    # 2.16 EUR/h for the first 5 s, then 0.5 x 7.2 + 0.36 = 3.96 EUR/h for the next 5 s
    held = FIRST + 3.96 * 5 / 3600
    assert _v1(dict(report))["held"] == pytest.approx(held)
    # the counters (/metrics) count the same money for the same time
    assert sampler.totals[("fraud", "v1")].money_held == pytest.approx(held)
    assert report["total"]["held"] == pytest.approx(held)
    # the status section (the dashboard) too
    status = cost_status(sampler)
    assert status is not None
    assert status["versions"][0]["held"] == pytest.approx(held)
    # the replica-hour line shows the prices now: its latest interval's
    assert _v1(dict(report))["replica_hour_formula"] == ("0.5 core * 7.2 + 1 GiB * 0.36 = 3.96")


def test_a_discount_from_now_on_leaves_the_money_already_spent(fake: Fake) -> None:
    sampler = _two_intervals(fake, "currency: EUR} -> currency: EUR, discount: 0.5}")
    held = FIRST + FIRST / 2
    assert _v1(dict(cost_report(sampler, 60)))["held"] == pytest.approx(held)


def test_an_interval_in_another_currency_is_priced_at_the_prices_now(fake: Fake) -> None:
    # EUR amounts cannot be added to USD ones: the whole window reads in USD, at USD prices.
    sampler = _two_intervals(
        fake, "cost: {cpu_core_hour: 3.6, memory_gib_hour: 0.36, currency: EUR} -> "
        "cost: {cpu_core_hour: 7.2, memory_gib_hour: 0.36, currency: USD}",
    )  # fmt: skip
    report = cost_report(sampler, 60)
    assert report["currency"] == "USD"
    assert _v1(dict(report))["held"] == pytest.approx(2 * 3.96 * 5 / 3600)
