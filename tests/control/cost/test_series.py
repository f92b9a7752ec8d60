"""The ``inferd_cost_*`` series: promtool-clean, every family documented in docs/metrics.md,
money only while the spec prices capacity, and the same figures as the status document."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from inferd.control.cost.documents import cost_status
from inferd.control.cost.proc import ProcessUse
from inferd.control.cost.sampler import CostSampler
from inferd.control.cost.series import CostSeries
from inferd.control.gateway.readings import GatewayReading, VersionTraffic
from inferd.cost.capacity import GIB
from inferd.observe.metrics import own_registry
from inferd.spec.loading import parse_spec

from .conftest import SPEC, Fake, replica

DOCS = Path(__file__).resolve().parents[3] / "docs" / "metrics.md"
MONEY = {
    "inferd_cost_info", "inferd_cost_held", "inferd_cost_idle",
    "inferd_cost_scale_to_zero_savings", "inferd_cost_per_1k_predictions",
}  # fmt: skip


def _exposition(fake: Fake, ticks: int = 3) -> tuple[bytes, CostSampler]:
    """Three ticks of one replica answering 100 requests an interval, then a scrape."""
    fake.replicas = [replica("fraud-v1-1", "v1", 11, 50)]
    fake.uses = {11: ProcessUse(1.0, GIB // 4, GIB // 4)}
    sampler = fake.sampler()
    registry = own_registry()
    CostSeries(sampler).register(registry)
    for n in range(ticks):
        fake.traffic = GatewayReading({("fraud", "v1"): VersionTraffic({"success": 100 * n})})
        asyncio.run(sampler.tick())
    fake.times = iter([115.0] * 10)  # scrapes and status read the clock
    return generate_latest(registry), sampler


def _families(text: bytes) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text.decode()):
        out[family.name] = {tuple(sorted(s.labels.items())): s.value for s in family.samples}
    return out


def test_promtool_accepts_the_cost_series(promtool: str, fake: Fake) -> None:
    text, _ = _exposition(fake)
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, check=False
    )
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    assert checked.stdout.decode().strip() == "" and checked.stderr.decode().strip() == ""


def test_every_cost_family_is_documented(fake: Fake) -> None:
    text, _ = _exposition(fake)
    documented = DOCS.read_text(encoding="utf-8")
    names = _families(text)
    assert set(names) >= MONEY
    for family in names:
        exposed = family + ("_total" if f"{family}_total".encode() in text else "")
        assert f"`{exposed}`" in documented, f"{exposed} is not in docs/metrics.md"


def test_money_only_with_prices(fake: Fake) -> None:
    fake.spec = parse_spec(SPEC[: SPEC.index("cost:")], "inferd.yaml")
    text, _ = _exposition(fake)
    names = set(_families(text))
    assert not names & MONEY
    assert "inferd_cost_replica_seconds" in names


def test_the_series_agree_with_the_status_document(fake: Fake) -> None:
    text, sampler = _exposition(fake)
    families = _families(text)
    v1 = (("deployment", "fraud"), ("version", "v1"))
    status = cost_status(sampler)
    assert status is not None and status["currency"] == "EUR"
    (row,) = [r for r in status["versions"] if r["version"] == "v1" and r["deployment"] == "fraud"]
    assert families["inferd_cost_held"][v1] == pytest.approx(row["held"])
    assert families["inferd_cost_idle"][v1] == pytest.approx(row["idle"])
    assert families["inferd_cost_predictions"][v1] == row["predictions"] == 200
    assert families["inferd_cost_per_1k_predictions"][v1] == pytest.approx(
        row["per_1k_predictions"]
    )
    assert families["inferd_cost_info"] == {(("currency", "EUR"),): 1.0}
    churn = families["inferd_cost_scale_to_zero_savings"][(("deployment", "churn"),)]
    assert churn == pytest.approx(status["versions"][-1]["saved_scale_to_zero"]) and churn > 0
