"""Observations from the gateway's real metrics, read as typed readings: intervals, errors,
percentiles, divergence."""

from __future__ import annotations

import pytest

from inferd.control.gateway.compare import Divergence
from inferd.control.gateway.metrics import GatewayMetrics
from inferd.control.rollout.observe import divergence_stats, shadow_stats, version_stats


def test_an_interval_counts_only_its_own_requests() -> None:
    metrics = GatewayMetrics()
    for _ in range(50):
        metrics.request("fraud", "v2", 200, 0.002)
    before = metrics.reading()
    for _ in range(95):
        metrics.request("fraud", "v2", 200, 0.003)
    for status in (500, 503, 504, 400, 400):
        metrics.request("fraud", "v2", status, 0.003)
    metrics.request("fraud", "v1", 200, 0.001)
    stats = version_stats(metrics.reading().since(before), "fraud", "v2")
    assert stats.requests == 100
    assert stats.errors == 3  # 500, 503 and 504; a 400 is the client's
    assert stats.client_errors == 2  # judged against the stable's (analysis)
    assert stats.p99_s is not None and 0.0025 < stats.p99_s <= 0.005


def test_slow_version_shows_in_p99() -> None:
    metrics = GatewayMetrics()
    for _ in range(100):
        metrics.request("d", "fast", 200, 0.002)
        metrics.request("d", "slow", 200, 0.02)
    delta = metrics.reading()
    fast, slow = version_stats(delta, "d", "fast"), version_stats(delta, "d", "slow")
    assert fast.p99_s is not None and slow.p99_s is not None
    assert slow.p99_s / fast.p99_s > 3


def test_mirrored_answers_and_divergence() -> None:
    metrics = GatewayMetrics()
    for i in range(10):
        metrics.shadow("d", "v1", "v2", "compared")
        label = Divergence("label", "share", 1.0 if i < 3 else 0.0, 1, 1 if i < 3 else 0)
        metrics.divergence("d", "v1", "v2", label)
        metrics.divergence("d", "v1", "v2", Divergence("probabilities", "mad", 0.1, 2, 0))
    metrics.shadow("d", "v1", "v2", "failed")
    metrics.shadow("d", "v1", "v2", "dropped")
    delta = metrics.reading()
    shadow = shadow_stats(delta, "d", "v2")
    assert (shadow.requests, shadow.errors) == (11, 1)
    div = divergence_stats(delta, "d", "v2")
    assert div.compared == 10
    assert div.label_share == pytest.approx(0.3)
    assert div.score_mad == pytest.approx(0.1)


def test_generations_divergence_and_stream_timings() -> None:
    metrics = GatewayMetrics()
    before = metrics.reading()
    for i in range(4):
        metrics.shadow("bot", "v1", "v2", "compared")
        same = i == 0
        text = Divergence("text", "share", 0.0 if same else 1.0, 1, 0 if same else 1)
        edit = Divergence("edit distance", "edit_distance", 0.0 if same else 0.5, 1, 0)
        metrics.divergence("bot", "v1", "v2", text)
        metrics.divergence("bot", "v1", "v2", edit)
        metrics.divergence("bot", "v1", "v2", Divergence("embedding", "cosine_distance", 0.1, 1, 0))
    for ttft in (0.05, 0.05, 0.05, 2.0):
        metrics.stream("bot", "v2", ttft, 0.01)
    metrics.request("bot", "v2", 200, 0.1)
    delta = metrics.reading().since(before)
    div = divergence_stats(delta, "bot", "v2")
    assert div.label_share == pytest.approx(0.75)  # 1 of 4 answers matched exactly
    assert div.edit_distance == pytest.approx(0.375)
    assert div.cosine_distance == pytest.approx(0.1)
    stats = version_stats(delta, "bot", "v2")
    assert stats.ttft_p95_s is not None and 1.0 < stats.ttft_p95_s <= 2.5  # the slow stream
    assert stats.itl_p95_s is not None and stats.itl_p95_s <= 0.025


def test_mirrored_copies_are_timed_per_interval() -> None:
    """A blue-green candidate answers mirrored copies only: their latency is its latency, and
    the stable's over the same interval is the ratio's baseline."""
    metrics = GatewayMetrics()
    for _ in range(50):
        metrics.shadow_answered("d", "v2", 0.5)  # before the interval: not counted
    before = metrics.reading()
    for _ in range(100):
        metrics.request("d", "v1", 200, 0.002)
        metrics.shadow("d", "v1", "v2", "compared")
        metrics.shadow_answered("d", "v2", 0.02)
    delta = metrics.reading().since(before)
    shadow, stable = shadow_stats(delta, "d", "v2"), version_stats(delta, "d", "v1")
    assert shadow.requests == 100
    assert shadow.p99_s is not None and 0.01 < shadow.p99_s <= 0.025
    assert stable.p99_s is not None and shadow.p99_s / stable.p99_s > 3
    assert shadow_stats(delta, "d", "absent").p99_s is None


def test_mirrored_streams_give_the_candidates_ttft_and_itl() -> None:
    metrics = GatewayMetrics()
    metrics.shadow_stream("bot", "v2", 5.0, 0.5)  # before the interval: not counted
    before = metrics.reading()
    for ttft in (0.05, 0.05, 0.05, 2.0):
        metrics.shadow("bot", "v1", "v2", "compared")
        metrics.shadow_stream("bot", "v2", ttft, 0.01)
    metrics.stream("bot", "v1", 0.05, 0.01)
    delta = metrics.reading().since(before)
    shadow = shadow_stats(delta, "bot", "v2")
    assert shadow.ttft_p95_s is not None and 1.0 < shadow.ttft_p95_s <= 2.5  # the slow stream
    assert shadow.itl_p95_s is not None and shadow.itl_p95_s <= 0.025
    assert version_stats(delta, "bot", "v2").ttft_p95_s is None  # no primary traffic of its own


def test_mirrored_client_errors_are_paired_with_the_primarys() -> None:
    """A 4xx copy is no failure: the client's when the primary refused it too, the
    candidate's excess when the primary answered it."""
    metrics = GatewayMetrics()
    for outcome, n in (("compared", 90), ("client_error", 8), ("refused", 2), ("failed", 1)):
        for _ in range(n):
            metrics.shadow("d", "v1", "v2", outcome)
    shadow = shadow_stats(metrics.reading(), "d", "v2")
    assert (shadow.requests, shadow.errors) == (101, 1)
    assert (shadow.client_errors, shadow.refused) == (10, 2)
    assert version_stats(metrics.reading(), "d", "v1").refused is None
