"""The cost documents and the window they cover: the status section's exact shape (the dashboard
reads it), the report with and without prices, recommendations, and windows refused with a
message naming the problem."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import cast

import pytest

from inferd.control.cost.api import _window, parse_window
from inferd.control.cost.documents import (
    CostStatus,
    cost_report,
    cost_status,
    pricing,
    proposal,
    recommendations,
)
from inferd.control.cost.proc import ProcessUse
from inferd.control.cost.sampler import CostSampler
from inferd.control.gateway.readings import GatewayReading, VersionTraffic
from inferd.cost.capacity import GIB
from inferd.cost.prices import Node, PriceBook
from inferd.errors import InvalidArgument
from inferd.spec.cost import CostSpec
from inferd.spec.loading import parse_spec

from .conftest import BATCHES, SPEC, Fake, replica


def _sampled(fake: Fake) -> CostSampler:
    """Two replicas of fraud/v1 answering 100 requests in each of three intervals."""
    fake.replicas = [replica("fraud-v1-1", "v1", 11, 50), replica("fraud-v1-2", "v1", 12, 50)]
    sampler = fake.sampler()
    for n in range(4):
        fake.uses = {
            11: ProcessUse(0.5 * n, GIB // 4, GIB // 4),
            12: ProcessUse(0.5 * n, GIB // 8, GIB // 4),
        }
        fake.traffic = GatewayReading({("fraud", "v1"): VersionTraffic({"success": 100 * n})})
        fake.texts = {"fraud-v1-1": BATCHES.format(ones=100 * n, all=100 * n, rows=100 * n)}
        asyncio.run(sampler.tick())
    fake.times = iter([115.0] * 10)
    return sampler


def test_the_status_section_has_the_shape_the_dashboard_reads(fake: Fake) -> None:
    status = cost_status(_sampled(fake))
    assert status is not None
    assert set(status) == set(CostStatus.__annotations__) == {
        "currency", "window_s", "versions", "total",
    }  # fmt: skip
    assert (status["currency"], status["window_s"]) == ("EUR", 15)
    v1 = status["versions"][0]
    assert set(v1) == {
        "deployment", "version", "replicas", "held", "idle", "idle_share", "predictions",
        "per_1k_predictions", "per_1m_tokens", "saved_scale_to_zero",
    }  # fmt: skip
    # two replicas x 15 s x (0.5 core x 0.001 + 1 GiB x 0.0001) per second
    assert (v1["replicas"], v1["predictions"]) == (2, 300)
    assert v1["held"] == pytest.approx(0.018)
    assert v1["per_1k_predictions"] == pytest.approx(0.06)
    assert v1["per_1m_tokens"] is None
    shadow = status["versions"][1]
    assert (shadow["version"], shadow["held"], shadow["idle_share"]) == ("v2", 0.0, 0.0)
    assert shadow["per_1k_predictions"] is None
    assert set(status["total"]) == {"held", "idle", "per_1k_predictions"}
    assert status["total"]["per_1k_predictions"] == pytest.approx(0.06)


def test_no_prices_no_status_section_but_a_capacity_report(fake: Fake) -> None:
    fake.spec = parse_spec(SPEC[: SPEC.index("cost:")], "inferd.yaml")
    sampler = _sampled(fake)
    assert cost_status(sampler) is None
    report = cost_report(sampler, 3600)
    assert report["currency"] is None and report["pricing"] is None
    v1 = report["versions"][0]
    assert v1["held"] is None and v1["per_1k_predictions"] is None
    assert v1["held_capacity"]["cpu_core_seconds"] == 15.0  # 2 x 15 s x 0.5
    assert v1["used_capacity"]["cpu_core_seconds"] == 3.0  # 0.5 s per interval each
    assert report["total"]["predictions"] == 300


def test_the_report_shows_each_replica_hour_and_covers_the_window(fake: Fake) -> None:
    report = cost_report(_sampled(fake), 3600)
    assert (report["window_s"], report["covered_s"], report["interval_s"]) == (3600, 15, 5)
    v1 = report["versions"][0]
    assert v1["rows"] == 300
    assert v1["replica_hour"] == pytest.approx(2.16)  # 0.5 core x 3.6 + 1 GiB x 0.36
    assert v1["replica_hour_formula"] == "0.5 core * 3.6 + 1 GiB * 0.36 = 2.16"
    assert report["pricing"] == "per resource (EUR): 3.6/core-hour, 0.36/GiB-hour"


@pytest.mark.parametrize(
    ("cost", "words"),
    [
        (CostSpec(price_per_node_hour=0.4), "per node: 0.4 USD/node-hour for 2 cores and 8 GiB "
         "(this machine), a replica paying its larger share of CPU or memory"),
        (CostSpec(price_per_node_hour=0.4, node={"cpu": 8, "memory": "32Gi"}, discount=0.3),
         "for 8 cores and 32 GiB (cost.node)"),
        (CostSpec(gpu_hour={"H100": 2.5, "L4": 0.7}, discount=0.3),
         "per resource (USD): H100 2.5/GPU-hour, L4 0.7/GPU-hour; discount 30% off every price"),
    ],
)  # fmt: skip
def test_pricing_in_words(cost: CostSpec, words: str) -> None:
    assert words in pricing(PriceBook.of(cost, Node(2, 8)))


def test_recommendations_and_their_changes(fake: Fake) -> None:
    doc = recommendations(_sampled(fake), 3600)
    assert doc["covered_s"] == 15 and doc["gpu"] is None
    v1 = next(a for a in doc["advice"] if a["version"] == "v1")
    assert v1["usage"]["requests"] == 300 and v1["usage"]["peak_rss_mib"] == 256
    assert {p["field"]: p["proposed"] for p in v1["proposals"]}["replicas"] == 1
    changes = {p["path"]: p for p in doc["changes"]}
    assert changes["fraud.v1.replicas"]["current"] == 2
    assert proposal(changes["fraud.v1.replicas"]).changes


@pytest.mark.parametrize(
    ("window", "seconds"), [("20s", 20.0), ("1h", 3600.0), ("1m30s", 90.0), ("2h", 7200.0)]
)
def test_windows(window: str, seconds: float) -> None:
    assert parse_window(window) == seconds


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ("3x", "window: '3x' is not a duration"),
        ("60", "is not a duration: write a number with a unit"),
        ("0s", "'0s' is no time at all"),
        ("3h", "'3h' is longer than the 2 h of measurements inferd up keeps"),
    ],
)
def test_bad_windows_are_refused_naming_the_problem(window: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_window(window)
    assert message in caught.value.message


@pytest.mark.parametrize("window", ["2s", "250ms", "4.9s"])
def test_a_window_shorter_than_one_interval_is_refused(window: str) -> None:
    # It would hold no interval or one, by chance of when it is asked: an empty report or not.
    with pytest.raises(InvalidArgument) as caught:
        parse_window(window)
    assert "shorter than the 5 s between two samples" in caught.value.message
    assert parse_window("5s") == 5.0


@pytest.mark.parametrize("query", ["window=", "window=&x=1"])
def test_an_empty_window_in_the_query_is_refused_not_taken_for_the_default(query: str) -> None:
    # `curl ".../admin/cost?window=$W"` with W unset asked for no window, not for an hour.
    sampler = cast(CostSampler, SimpleNamespace(keep_s=7200.0, interval_s=5.0))
    with pytest.raises(InvalidArgument) as caught:
        _window(query, sampler)
    assert "window: '' is not a duration" in caught.value.message
    assert _window("x=1", sampler) == 3600.0
