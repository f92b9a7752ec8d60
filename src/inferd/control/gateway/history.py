"""The gateway's memory of the last hour: per-series samples in a ring, and events to mark.

The dashboard's tables show "now" (:mod:`.traffic`); its charts need "what happened in the last
hour". A :class:`History` keeps, for each series (deployment, version, metric and a label such
as a drift feature), one float per ``interval_s`` slot over ``span_s`` — by default 720 slots,
an hour at 5 s. Slots are numbered by wall-clock time (``floor(t / interval_s)``), so two
samples in one slot keep the later one, a slot nothing was recorded in stays empty (a gap in
the chart, not a made-up zero), and everything older than the span is gone: writing slot ``n``
clears the slot ``n - capacity`` held.

Memory is bounded by construction: each series is one ``array('d')`` of ``capacity`` floats
(8 bytes each: 5,760 bytes per series at the defaults, plus about 0.4 KiB of key and
bookkeeping), a series whose last value has left the span is dropped, at most
:data:`MAX_SERIES` series are kept, and at most :data:`MAX_EVENTS` events. Measured with
``tracemalloc`` (tests/control/gateway/test_history.py): a stack of 3 deployments x 3 versions
with 8 drift features each (135 series) holds under 0.9 MiB after a full hour; the
:data:`MAX_SERIES` ceiling is about 25 MiB.

What goes in is decided by :mod:`.sampling`; the document :meth:`History.document` returns is
what ``GET /api/history`` serves.
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, NamedTuple, TypedDict

from inferd.errors import InvalidArgument

#: Seconds between samples, and seconds of samples kept (one hour at 5 s: 720 slots).
DEFAULT_INTERVAL_S = 5.0
DEFAULT_SPAN_S = 3600.0
#: Slots a series may hold; more is refused (a day at 1 s).
MAX_CAPACITY = 86_400
#: Series kept at most; beyond it new series are counted in ``dropped_series``, not kept.
MAX_SERIES = 4096
#: Events kept at most (the oldest go first).
MAX_EVENTS = 512
#: The environment variables :meth:`HistoryOptions.from_environ` reads (seconds).
INTERVAL_ENV = "INFERD_HISTORY_INTERVAL"
SPAN_ENV = "INFERD_HISTORY_SPAN"

Metric = Literal[
    "rps", "error_rate", "p99_ms", "replicas", "batch_size", "divergence_share",
    "divergence_mad", "drift_psi", "cost_per_1k", "idle_share",
]  # fmt: skip
EventKind = Literal["rollout", "alias"]


class SeriesKey(NamedTuple):
    """One chart line: a metric of one version; ``label`` tells apart lines of one metric (the
    drift feature), else empty."""

    deployment: str
    version: str
    metric: Metric
    label: str = ""


class ChartEvent(TypedDict):
    """Something to mark on a deployment's charts at ``time`` (seconds since the epoch)."""

    time: float
    deployment: str
    kind: EventKind
    text: str


class SeriesRecord(TypedDict):
    deployment: str
    version: str
    metric: Metric
    label: str
    #: One value per entry of the document's ``times``; None where nothing was recorded.
    values: list[float | None]


class HistoryDocument(TypedDict):
    """What ``GET /api/history`` answers."""

    interval_s: float
    span_s: float
    #: The start of each slot from the oldest kept to the newest (seconds since the epoch).
    times: list[float]
    series: list[SeriesRecord]
    events: list[ChartEvent]
    #: Series refused because :data:`MAX_SERIES` were kept already.
    dropped_series: int


@dataclass(frozen=True, slots=True)
class HistoryOptions:
    """How often to sample and how far back to keep; checked when built."""

    interval_s: float = DEFAULT_INTERVAL_S
    span_s: float = DEFAULT_SPAN_S

    def __post_init__(self) -> None:
        if not (math.isfinite(self.interval_s) and self.interval_s > 0):
            raise InvalidArgument(f"history interval must be above 0 s, not {self.interval_s}")
        if not (math.isfinite(self.span_s) and self.span_s >= self.interval_s):
            raise InvalidArgument(
                f"history span ({self.span_s} s) must be at least its interval "
                f"({self.interval_s} s)"
            )
        if self.capacity > MAX_CAPACITY:
            raise InvalidArgument(
                f"history span {self.span_s} s at {self.interval_s} s is {self.capacity} "
                f"samples per series; at most {MAX_CAPACITY}"
            )

    @property
    def capacity(self) -> int:
        """Slots per series."""
        return max(1, round(self.span_s / self.interval_s))

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> HistoryOptions:
        """:data:`INTERVAL_ENV` and :data:`SPAN_ENV` (seconds) over the defaults."""
        values = {}
        for name, field in ((INTERVAL_ENV, "interval_s"), (SPAN_ENV, "span_s")):
            text = environ.get(name)
            if text is None:
                continue
            try:
                values[field] = float(text)
            except ValueError:
                raise InvalidArgument(f"{name}={text!r}: expected seconds, e.g. 5") from None
        return cls(**values)


class History:
    """Samples per series over the last ``span_s``, one per ``interval_s`` slot."""

    def __init__(self, options: HistoryOptions | None = None) -> None:
        self.options = options or HistoryOptions()
        self.capacity = self.options.capacity
        self._series: dict[SeriesKey, array[float]] = {}
        #: The newest slot each series has a value in (a series with none left is dropped).
        self._last: dict[SeriesKey, int] = {}
        self._first: int | None = None
        self._newest: int | None = None
        self._events: deque[ChartEvent] = deque(maxlen=MAX_EVENTS)
        self.dropped_series = 0

    def slot(self, at: float) -> int:
        """The slot that time ``at`` (seconds since the epoch) falls in."""
        return math.floor(at / self.options.interval_s)

    def record(self, at: float, values: Mapping[SeriesKey, float | None]) -> None:
        """Store ``values`` in the slot of ``at``; None and non-finite values stay gaps.

        A sample older than the span is ignored; one in a slot already written overwrites the
        series it names there (the later sample of a slot wins)."""
        slot = self.slot(at)
        if self._newest is not None and slot <= self._newest - self.capacity:
            return
        self._advance(slot)
        position = slot % self.capacity
        for key, value in values.items():
            if value is None or not math.isfinite(value):
                continue
            series = self._series.get(key)
            if series is None:
                if len(self._series) >= MAX_SERIES:
                    self.dropped_series += 1
                    continue
                series = self._series[key] = array("d", [math.nan]) * self.capacity
            series[position] = _six_digits(value)
            self._last[key] = max(self._last.get(key, slot), slot)

    def mark(self, event: ChartEvent) -> None:
        """Remember ``event`` (kept while its time is within the span)."""
        self._events.append(event)

    def _advance(self, slot: int) -> None:
        """Make ``slot`` the newest: clear the slots between the newest and it (their old
        values are older than the span), and drop what left the span."""
        if self._first is None or slot < self._first:
            self._first = slot
        newest = self._newest
        if newest is not None and slot <= newest:
            return
        self._newest = slot
        if newest is not None:
            cleared = range(newest + 1, slot + 1)
            if len(cleared) >= self.capacity:
                cleared = range(slot + 1 - self.capacity, slot + 1)
            for series in self._series.values():
                for s in cleared:
                    series[s % self.capacity] = math.nan
        oldest = slot - self.capacity + 1
        for key in [k for k, last in self._last.items() if last < oldest]:
            del self._series[key], self._last[key]
        start = oldest * self.options.interval_s
        while self._events and self._events[0]["time"] < start:
            self._events.popleft()

    def document(self) -> HistoryDocument:
        """Every series over the slots from the oldest kept to the newest, and the events."""
        times: list[float] = []
        series: list[SeriesRecord] = []
        if self._newest is not None and self._first is not None:
            first = max(self._first, self._newest - self.capacity + 1)
            interval = self.options.interval_s
            times = [round(s * interval, 3) for s in range(first, self._newest + 1)]
            start, end = first % self.capacity, first % self.capacity + len(times)
            for key in sorted(self._series):
                values = self._series[key]
                kept = values[start:end].tolist() + values[: max(0, end - self.capacity)].tolist()
                series.append(
                    {
                        "deployment": key.deployment,
                        "version": key.version,
                        "metric": key.metric,
                        "label": key.label,
                        "values": [None if math.isnan(x) else x for x in kept],
                    }
                )
        return {
            "interval_s": self.options.interval_s,
            "span_s": self.capacity * self.options.interval_s,
            "times": times,
            "series": series,
            "events": sorted(self._events, key=lambda e: e["time"]),
            "dropped_series": self.dropped_series,
        }


def _six_digits(x: float) -> float:
    """``x`` to six significant digits: plenty for a chart, and the document's JSON is a third
    of the size it is with every digit of a float."""
    return float(f"{x:.6g}")
