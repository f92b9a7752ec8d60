"""The gateway's request histograms reach past a minute: it relays language-model generations
(a streamed chat of a few hundred tokens runs 30 s to minutes), and with the model servers'
buckets, which end at 30 s, every longer request fell in +Inf, so the p99 the dashboard's
"Through the gateway" panel and a rollout's analysis read stopped at 30 s however long
generations took."""

from __future__ import annotations

import pytest

from inferd.control.gateway.metrics import GatewayMetrics


@pytest.mark.parametrize(("seconds", "low", "high"), [(45.0, 30.0, 60.0), (200.0, 120.0, 300.0)])
def test_the_p99_of_long_generations_is_read_past_30_seconds(
    seconds: float, low: float, high: float
) -> None:
    metrics = GatewayMetrics()
    for _ in range(100):
        metrics.request("bot", "v1", 200, seconds)
    p99 = metrics.reading().versions[("bot", "v1")].quantile(0.99)
    assert p99 is not None and low < p99 <= high


def test_mirrored_copies_are_timed_as_long() -> None:
    metrics = GatewayMetrics()
    for _ in range(100):
        metrics.shadow_answered("bot", "mirror", 45.0)
    p99 = metrics.reading().shadows[("bot", "mirror")].quantile(0.99)
    assert p99 is not None and 30.0 < p99 <= 60.0
    assert b'le="300.0"' in metrics.render()
