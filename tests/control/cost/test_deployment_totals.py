"""The report's per-deployment figures (docs/cost.md#formulas): a deployment's cost per 1k
predictions is every one of its versions' money, its shadow's included, over their predictions,
and it adds up with the other deployments' to the stack's total."""

from __future__ import annotations

import asyncio

import pytest

from inferd.control.cost.documents import cost_report
from inferd.control.cost.proc import ProcessUse
from inferd.control.gateway.readings import GatewayReading, VersionTraffic
from inferd.cost.capacity import GIB

from .conftest import Fake, replica


def test_a_deployment_pays_for_its_shadow_and_the_deployments_add_up(fake: Fake) -> None:
    fake.replicas = [
        replica("fraud-v1-1", "v1", 11, 50),
        replica("fraud-v2-1", "v2", 12, 50),  # fraud's shadow
        replica("churn-v1-1", "v1", 13, 50, "churn"),
    ]
    fake.uses = {pid: ProcessUse(0.0, GIB // 4, GIB // 4) for pid in (11, 12, 13)}
    sampler = fake.sampler()
    asyncio.run(sampler.tick())
    fake.traffic = GatewayReading(
        {("fraud", "v1"): VersionTraffic({"success": 100}), ("churn", "v1"): VersionTraffic({})}
    )
    asyncio.run(sampler.tick())
    fake.times = iter([110.0] * 10)
    report = cost_report(sampler, 3600)
    by_version = {(v["deployment"], v["version"]): v for v in report["versions"]}
    fraud, churn = report["deployments"]
    assert (fraud["deployment"], churn["deployment"]) == ("fraud", "churn")
    v1, v2 = by_version[("fraud", "v1")], by_version[("fraud", "v2")]
    assert v1["held"] is not None and v2["held"] is not None and v2["shadow"]
    assert fraud["held"] == pytest.approx(v1["held"] + v2["held"])
    assert fraud["predictions"] == 100
    assert fraud["per_1k_predictions"] == pytest.approx((v1["held"] + v2["held"]) / 100 * 1000)
    assert churn["predictions"] == 0 and churn["per_1k_predictions"] is None
    assert fraud["held"] + churn["held"] == pytest.approx(report["total"]["held"])
