"""The event loop's lock-free series expose exactly what prometheus_client's own would."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from inferd.observe.loop_series import LoopCounters, LoopHistograms
from inferd.observe.metrics import LATENCY_BUCKETS, own_registry

#: Below, on, between and above the bounds (a value equal to a bound falls in that bucket).
VALUES = (0.0, 0.00005, 0.0001, 0.00011, 0.005, 0.0051, 29.9, 30.0, 31.0, 1e9)


def _registries() -> tuple[CollectorRegistry, CollectorRegistry]:
    """Two registries as the server makes them (no ``_created`` series)."""
    return own_registry(), own_registry()


def test_a_histogram_renders_as_prometheus_clients_does() -> None:
    theirs, ours = _registries()
    reference = Histogram("h_seconds", "Help.", ("model", "version"), registry=theirs,
                          buckets=LATENCY_BUCKETS)  # fmt: skip
    loop = LoopHistograms("h_seconds", "Help.", ("model", "version"), ours, LATENCY_BUCKETS)
    for labels in (("a", "1"), ("b", "2")):
        reference.labels(*labels)
        loop.labels(*labels)
    for value in VALUES:
        reference.labels("a", "1").observe(value)
        loop.labels("a", "1").observe(value)
    assert generate_latest(ours) == generate_latest(theirs)


def test_integer_buckets_render_as_prometheus_clients_do() -> None:
    theirs, ours = _registries()
    reference = Histogram("rows", "Rows.", ("m",), registry=theirs, buckets=(1, 2, 4, 8))
    loop = LoopHistograms("rows", "Rows.", ("m",), ours, (1, 2, 4, 8))
    for rows in (1, 2, 3, 8, 9):
        reference.labels("x").observe(rows)
        loop.labels("x").observe(rows)
    assert generate_latest(ours) == generate_latest(theirs)


def test_a_counter_renders_as_prometheus_clients_does_and_forgets_like_it() -> None:
    theirs, ours = _registries()
    reference = Counter("requests", "Requests.", ("outcome",), registry=theirs)
    loop = LoopCounters("requests", "Requests.", ("outcome",), ours)
    for outcome, n in (("success", 3), ("error", 1), ("gone", 2)):
        for _ in range(n):
            reference.labels(outcome).inc()
            loop.labels(outcome).inc()
    reference.remove("gone")
    loop.remove("gone")
    assert generate_latest(ours) == generate_latest(theirs)
    with pytest.raises(KeyError):
        loop.remove("never")


def test_wrong_label_counts_and_unsorted_bounds_are_refused() -> None:
    registry = CollectorRegistry()
    counters = LoopCounters("c", "C.", ("a", "b"), registry)
    with pytest.raises(ValueError, match="takes labels"):
        counters.labels("only-one")
    with pytest.raises(ValueError, match="must increase"):
        LoopHistograms("h", "H.", ("a",), registry, (2.0, 1.0))
