"""``inferd_cost_scale_to_zero_savings_total`` is a counter per deployment: it never goes down.
It was the sum of the deployment's versions' totals, and a version's totals go with its last
kept interval (2 hours after it left the spec), so once a deployment's former main version
aged out, the counter fell by what that version had saved, which Prometheus' ``increase()``
takes for a reset and counts all of the rest again."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from inferd.control.cost.sampler import CostSampler
from inferd.control.cost.series import CostSeries
from inferd.observe.metrics import own_registry
from inferd.spec.loading import parse_spec

from .conftest import SPEC, Fake


def _saved(sampler: CostSampler) -> float:
    registry = own_registry()
    CostSeries(sampler).register(registry)
    text = generate_latest(registry).decode()
    (family,) = [
        f
        for f in text_string_to_metric_families(text)
        if f.name == "inferd_cost_scale_to_zero_savings"
    ]
    (churn,) = [s.value for s in family.samples if s.labels == {"deployment": "churn"}]
    return churn


def test_the_savings_of_a_version_that_aged_out_stay_in_the_deployments_counter(
    fake: Fake,
) -> None:
    # Ticks every 5 s from 100 to 300, at 305, then at 361; each scrape reads the clock too.
    fake.times = iter([*range(100, 301, 5), 305, 305, 361, 361])
    sampler = fake.sampler()  # keeps 60 s; churn/v1 sits at zero (min_replicas 0, no replica)
    for _ in range(100, 301, 5):  # 200 s at zero
        asyncio.run(sampler.tick())
    # churn's main version becomes v2 (still at zero): v1 leaves the spec.
    fake.spec = parse_spec(SPEC.replace('v1, model: "churn:v1"', 'v2, model: "churn:v2"'), "x")
    asyncio.run(sampler.tick())  # at 305: 5 s more, saved by v2
    before = _saved(sampler)
    # One replica of churn (1 core and its peak RSS, 0) at 3.6 EUR/core-hour for 205 s.
    assert abs(before - 205 * 3.6 / 3600) < 1e-12
    asyncio.run(sampler.tick())  # at 361: v1's intervals (the last ended at 300) are not kept
    assert _saved(sampler) == pytest.approx(before + 56 * 3.6 / 3600)
