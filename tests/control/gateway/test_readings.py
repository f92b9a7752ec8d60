"""Typed readings of the gateway's series: per-version and per-deployment traffic, intervals,
shadow comparisons, latency quantiles, and what replicas report."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from inferd.control.gateway.aggregate import read_replica
from inferd.control.gateway.compare import Divergence
from inferd.control.gateway.metrics import GatewayMetrics
from inferd.control.gateway.readings import GatewayReading, quantile
from inferd.control.replicas.topology import Replica
from inferd.observe.metrics import QUEUE_DEPTH


def test_versions_and_deployment_totals() -> None:
    metrics = GatewayMetrics()
    for status in (200, 200, 503, 400):
        metrics.request("fraud", "v1", status, 0.002)
    metrics.request("fraud", "v2", 200, 0.2)
    metrics.request("fraud", "unknown", 503, 0.001)  # failed before a version was chosen
    metrics.request("echo", "e1", 200, 0.001)
    reading = metrics.reading()
    v1 = reading.version("fraud", "v1")
    assert v1.requests == 4
    assert dict(v1.outcomes) == {
        "success": 2, "client_error": 1, "unavailable": 1, "deadline": 0, "error": 0,
    }  # fmt: skip
    assert v1.count({"unavailable", "deadline", "error"}) == 1
    total = reading.deployment("fraud")
    assert total.requests == 6
    assert total.quantile(0.99) is not None and total.quantile(0.99) > 0.1  # type: ignore[operator]
    assert reading.version("fraud", "absent").requests == 0
    assert reading.version("fraud", "absent").quantile(0.5) is None


def test_an_interval_is_what_was_added_since() -> None:
    metrics = GatewayMetrics()
    metrics.request("fraud", "v1", 200, 0.002)
    before = metrics.reading()
    metrics.request("fraud", "v1", 200, 0.02)
    metrics.request("fraud", "v2", 500, 0.002)  # a series absent before counts from zero
    delta = metrics.reading().since(before)
    v1 = delta.version("fraud", "v1")
    assert v1.requests == 1
    p50 = v1.quantile(0.5)
    assert p50 is not None and 0.01 < p50 <= 0.025
    assert delta.version("fraud", "v2").count({"error"}) == 1
    assert GatewayReading().since(GatewayReading()) == GatewayReading()


def test_shadow_reading_sums_primaries_and_splits_kinds() -> None:
    metrics = GatewayMetrics()
    for primary in ("v1", "v3"):
        metrics.shadow("d", primary, "v2", "compared")
        metrics.divergence("d", primary, "v2", Divergence("label", "share", 0.5, 4, 2))
        metrics.divergence("d", primary, "v2", Divergence("score", "mad", 0.2, 3, 0))
    metrics.shadow("d", "v1", "v2", "timeout")
    metrics.shadow("d", "v1", "v2", "dropped")
    shadow = metrics.reading().shadow("d", "v2")
    assert dict(shadow.outcomes) == {"compared": 2, "timeout": 1, "dropped": 1}
    assert (shadow.label_elements, shadow.label_differing) == (8, 4)
    assert shadow.score_comparisons == 2
    assert shadow.score_mad_sum == pytest.approx(0.4)
    assert metrics.reading().shadow("d", "other").outcomes == {}


@pytest.mark.parametrize(
    ("q", "buckets", "expected"),
    [
        (0.5, [], None),
        (0.5, [(1.0, 0.0), (math.inf, 0.0)], None),
        (0.5, [(1.0, 10.0), (2.0, 10.0), (math.inf, 10.0)], 0.5),
        (0.99, [(1.0, 0.0), (2.0, 100.0), (math.inf, 100.0)], 1.99),
        (0.99, [(1.0, 0.0), (2.0, 50.0), (math.inf, 100.0)], 2.0),
    ],
)
def test_quantile_like_prometheus(
    q: float, buckets: list[tuple[float, float]], expected: float | None
) -> None:
    result = quantile(q, buckets)
    assert result == (None if expected is None else pytest.approx(expected))


def test_replica_reading_sums_queue_depth() -> None:
    registry = CollectorRegistry()
    depth = Gauge(QUEUE_DEPTH, "Requests waiting.", ("model", "version"), registry=registry)
    depth.labels("fraud", "v1").set(3)
    depth.labels("other", "v1").set(2)
    replica = Replica("fraud-v1-1", "fraud", "v1", "127.0.0.1", 1, "ready")
    reading = read_replica(replica, generate_latest(registry).decode())
    assert (reading.queue_depth, reading.drift_psi) == (5.0, None)
    assert read_replica(replica, "").queue_depth == 0.0


def test_a_replicas_language_model_load() -> None:
    from inferd.observe.llm_metrics import KV_CACHE_USAGE, REQUESTS_WAITING, TOKENS_IN_FLIGHT

    registry = CollectorRegistry()
    labels = ("model", "version")
    waiting = Gauge(REQUESTS_WAITING, "Waiting.", labels, registry=registry)
    tokens = Gauge(TOKENS_IN_FLIGHT, "Tokens.", labels, registry=registry)
    usage = Gauge(KV_CACHE_USAGE, "KV.", labels, registry=registry)
    for model, n in (("base", 2), ("adapter", 1)):
        waiting.labels(model, "v1").set(n)
        tokens.labels(model, "v1").set(100 * n)
        usage.labels(model, "v1").set(0.1 * n)
    replica = Replica("bot-v1-1", "bot", "v1", "127.0.0.1", 1, "ready")
    reading = read_replica(replica, generate_latest(registry).decode())
    assert (reading.requests_waiting, reading.tokens_in_flight) == (3.0, 300.0)
    assert reading.kv_cache_usage == pytest.approx(0.2)  # the fullest cache
    assert read_replica(replica, "").kv_cache_usage is None
