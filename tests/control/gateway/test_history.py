"""The gateway's ring buffer of samples: bounded, evicting by time, one value per slot, and the
JSON document the dashboard charts."""

from __future__ import annotations

import math
import tracemalloc

import orjson
import pytest

from inferd.control.gateway.history import (
    MAX_EVENTS,
    MAX_SERIES,
    ChartEvent,
    History,
    HistoryOptions,
    SeriesKey,
)
from inferd.errors import InvalidArgument

T0 = 1_700_000_000.0  # a multiple of 5: slot boundaries fall on it
RPS = SeriesKey("fraud", "v1", "rps")
P99 = SeriesKey("fraud", "v1", "p99_ms")


def small(capacity: int = 4, interval: float = 5.0) -> History:
    return History(HistoryOptions(interval_s=interval, span_s=capacity * interval))


def values(history: History, key: SeriesKey) -> list[float | None]:
    (series,) = [
        s
        for s in history.document()["series"]
        if (s["deployment"], s["version"], s["metric"], s["label"]) == key
    ]
    return series["values"]


def event(at: float, text: str = "step 2") -> ChartEvent:
    return {"time": at, "deployment": "fraud", "kind": "rollout", "text": text}


def test_defaults_are_an_hour_at_five_seconds() -> None:
    history = History()
    assert (history.options.interval_s, history.capacity) == (5.0, 720)
    assert history.document()["span_s"] == 3600.0


def test_a_series_holds_at_most_capacity_samples_the_newest_ones() -> None:
    history = small(capacity=4)
    for i in range(10):
        history.record(T0 + 5 * i, {RPS: float(i)})
    doc = history.document()
    assert doc["times"] == [T0 + 5 * i for i in range(6, 10)]
    assert values(history, RPS) == [6.0, 7.0, 8.0, 9.0]


def test_a_series_whose_values_all_left_the_span_is_dropped() -> None:
    history = small(capacity=4)
    history.record(T0, {RPS: 1.0, P99: 2.0})
    for i in range(1, 4):
        history.record(T0 + 5 * i, {RPS: 1.0})
    assert values(history, P99) == [2.0, None, None, None]
    history.record(T0 + 20, {RPS: 1.0})  # slot 0 leaves the span, and P99's only value with it
    assert [s["metric"] for s in history.document()["series"]] == ["rps"]


def test_a_gap_longer_than_the_span_clears_everything_before_it() -> None:
    history = small(capacity=4)
    history.record(T0, {RPS: 1.0})
    history.record(T0 + 5, {RPS: 2.0, P99: 3.0})
    history.record(T0 + 1000, {P99: 4.0})
    assert history.document()["times"] == [T0 + 985, T0 + 990, T0 + 995, T0 + 1000]
    assert values(history, P99) == [None, None, None, 4.0]


def test_one_value_per_slot_the_later_sample_wins_and_missed_slots_are_gaps() -> None:
    history = small(capacity=6)
    history.record(T0 + 0.2, {RPS: 1.0, P99: 9.0})
    history.record(T0 + 4.9, {RPS: 2.0})  # same 5 s slot: RPS replaced, P99 kept
    history.record(T0 + 15.1, {RPS: 3.0, P99: None})  # slots T0+5 and T0+10 were missed
    doc = history.document()
    assert doc["times"] == [T0, T0 + 5, T0 + 10, T0 + 15]
    assert values(history, RPS) == [2.0, None, None, 3.0]
    assert values(history, P99) == [9.0, None, None, None]


def test_a_sample_older_than_the_span_is_ignored_a_late_one_within_it_is_kept() -> None:
    history = small(capacity=4)
    history.record(T0 + 30, {RPS: 1.0})
    history.record(T0, {RPS: 5.0})  # 30 s before the newest: beyond a 20 s span
    history.record(T0 + 20, {RPS: 2.0})
    assert history.document()["times"] == [T0 + 20, T0 + 25, T0 + 30]
    assert values(history, RPS) == [2.0, None, 1.0]


def test_non_finite_values_are_gaps_and_values_keep_six_significant_digits() -> None:
    history = small()
    history.record(T0, {RPS: math.nan, P99: 12.345678901})
    history.record(T0 + 5, {RPS: math.inf, P99: 0.000123456789})
    assert [s["metric"] for s in history.document()["series"]] == ["p99_ms"]
    assert values(history, P99) == [12.3457, 0.000123457]


def test_the_document_is_json_with_one_value_per_time_for_every_series() -> None:
    history = small(capacity=3)
    drift = SeriesKey("fraud", "v2", "drift_psi", "input[amount]")
    history.record(T0, {RPS: 4.5})
    history.record(T0 + 5, {drift: 0.31, RPS: 5.0})
    history.mark(event(T0 + 3))
    doc = orjson.loads(orjson.dumps(history.document()))
    assert doc == {
        "interval_s": 5.0,
        "span_s": 15.0,
        "times": [T0, T0 + 5],
        "series": [
            {
                "deployment": "fraud",
                "version": "v1",
                "metric": "rps",
                "label": "",
                "values": [4.5, 5.0],
            },
            {
                "deployment": "fraud",
                "version": "v2",
                "metric": "drift_psi",
                "label": "input[amount]",
                "values": [None, 0.31],
            },
        ],
        "events": [event(T0 + 3)],
        "dropped_series": 0,
    }


def test_an_empty_history_has_no_times_and_no_series() -> None:
    doc = History().document()
    assert (doc["times"], doc["series"], doc["events"]) == ([], [], [])


def test_events_leave_with_the_span_and_are_capped() -> None:
    history = small(capacity=4)
    history.mark(event(T0 + 1, "old"))
    history.mark(event(T0 + 12, "kept"))
    history.record(T0 + 25, {RPS: 1.0})  # oldest slot kept now starts at T0 + 10
    assert [e["text"] for e in history.document()["events"]] == ["kept"]
    for i in range(MAX_EVENTS + 10):
        history.mark(event(T0 + 25, str(i)))
    texts = [e["text"] for e in history.document()["events"]]
    assert len(texts) == MAX_EVENTS and texts[-1] == str(MAX_EVENTS + 9)


def test_series_beyond_the_ceiling_are_counted_not_kept() -> None:
    history = small(capacity=1)
    keys = [SeriesKey("d", "v", "drift_psi", str(i)) for i in range(MAX_SERIES + 3)]
    history.record(T0, dict.fromkeys(keys, 0.1))
    doc = history.document()
    assert len(doc["series"]) == MAX_SERIES and doc["dropped_series"] == 3


def test_memory_of_a_full_hour_for_a_typical_stack_is_under_a_mebibyte() -> None:
    """3 deployments x 3 versions, each with 7 metrics and 8 drift features (135 series): the
    figure docs/gateway.md quotes."""
    metrics = ("rps", "error_rate", "p99_ms", "replicas", "batch_size", "divergence_share",
               "divergence_mad")  # fmt: skip
    keys = [
        SeriesKey(f"deployment-{d}", f"v{v}", m)  # type: ignore[arg-type]
        for d in range(3)
        for v in range(3)
        for m in metrics
    ] + [
        SeriesKey(f"deployment-{d}", f"v{v}", "drift_psi", f"input[{f}]")
        for d in range(3)
        for v in range(3)
        for f in range(8)
    ]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        history = History()
        for i in range(2 * history.capacity):  # two hours: the first has been overwritten
            history.record(T0 + 5 * i, {k: i * 0.37 for k in keys})
            if i % 60 == 0:
                history.mark(event(T0 + 5 * i))
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(history.document()["series"]) == len(keys) == 135
    per_series = used / len(keys)
    assert 720 * 8 <= per_series < 6.5 * 1024, per_series
    assert used < 0.9 * 1024 * 1024, used


@pytest.mark.parametrize(
    ("environ", "problem"),
    [
        ({"INFERD_HISTORY_INTERVAL": "soon"}, "INFERD_HISTORY_INTERVAL='soon': expected seconds"),
        ({"INFERD_HISTORY_INTERVAL": "0"}, "history interval must be above 0 s"),
        ({"INFERD_HISTORY_SPAN": "1", "INFERD_HISTORY_INTERVAL": "5"}, "must be at least"),
        ({"INFERD_HISTORY_INTERVAL": "0.001"}, "at most 86400"),
    ],
)
def test_bad_options_are_refused_with_the_reason(environ: dict[str, str], problem: str) -> None:
    with pytest.raises(InvalidArgument, match=problem):
        HistoryOptions.from_environ(environ)


def test_options_from_the_environment() -> None:
    options = HistoryOptions.from_environ(
        {"INFERD_HISTORY_INTERVAL": "0.5", "INFERD_HISTORY_SPAN": "60"}
    )
    assert (options.interval_s, options.span_s, options.capacity) == (0.5, 60.0, 120)
    assert HistoryOptions.from_environ({}) == HistoryOptions()
