"""Input drift: live inputs of a model version compared with its card's reference profile.

A :class:`DriftMonitor` per loaded version counts the rows it is shown into the reference
histograms' bins (one ``searchsorted``-style comparison and one ``bincount`` per input and batch,
off the request path: the model's worker thread calls :meth:`DriftMonitor.observe` after a batch).
Nothing is computed per request beyond that; PSI and KS are computed when Prometheus scrapes, by
:class:`DriftCollector`.

- **PSI** (population stability index) per feature: ``Σ (q - p) · ln(q / p)`` over the bins,
  ``p`` the reference share and ``q`` the live share, both floored at :data:`PSI_EPSILON` so an
  empty bin does not make it infinite. Rule of thumb: below 0.1 stable, 0.1 to 0.2 moderate,
  above 0.2 drifted.
- **KS** per feature: the largest gap between the reference and live cumulative shares at the
  bin edges (the Kolmogorov-Smirnov statistic evaluated on the binned CDFs).

A feature whose last edge is its training maximum (few distinct values: a flag, a category, a
constant) has one more bin, for values above that maximum, where the reference has none: a value
never seen in training reads as drift rather than as the largest one.

Missing values (NaN) are one more bin after the last, on both sides: the reference's share is
the profile's ``missing``, the live share the NaN the version was sent. So training data with
missing values reads no drift, and a jump in the missing rate reads as drift of that bin (KS
reads it as the change in the missing share) instead of a shift of the lowest bin.

Neither is reported before :data:`MIN_SAMPLES` rows were seen. With 10 bins, PSI of ``n`` rows
drawn from the reference itself is about ``9 / n`` on average (a chi-square with 9 degrees of
freedom, over ``n``), so at 100 rows a feature can read above 0.2 by chance alone; at 500 the
noise stays near 0.02.
Every label value (input and feature names) comes from the model card, so the series are bounded
by the profile (see :data:`inferd.observe.profile.MAX_FEATURES`), whatever clients send.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from prometheus_client import Metric
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from inferd.card import InputProfile, ReferenceProfile

#: Rows an input must have seen before its PSI and KS are reported.
MIN_SAMPLES = 500
#: Floor for bin shares in PSI (an empty bin would make the logarithm infinite).
PSI_EPSILON = 1e-4
#: Values (rows x features) of one batch that are binned; a larger batch is strided down to
#: about this many, which keeps one :meth:`DriftMonitor.observe` near 10-20 µs on a CPU core.
MAX_VALUES_PER_BATCH = 512
#: The PSI series (the rollout's ``max_drift_psi`` check reads it from replicas).
DRIFT_PSI = "inferd_input_drift_psi"


@dataclass(frozen=True, slots=True)
class FeatureDrift:
    """Drift of one feature; ``samples`` rows were compared with the reference."""

    input: str
    feature: str
    psi: float
    ks: float
    samples: int


class _InputCounts:
    """Bin counts of one input: every feature's edges padded to one width with +inf, so one
    vectorised comparison bins a whole batch (padded bins stay empty on both sides), and a last
    column for missing values (NaN)."""

    def __init__(self, profile: InputProfile) -> None:
        self.name = profile.name
        self.features = tuple(f.name for f in profile.features)
        # A feature whose last edge is its largest training value (few distinct values: a
        # flag, a category, a constant) gets one more bin, for values above that maximum: the
        # reference has none there, so a value never seen in training reads as drift instead
        # of counting as the largest one.
        above = [bool(f.edges) and f.edges[-1] == f.max for f in profile.features]
        cuts = [len(f.edges) + up for f, up in zip(profile.features, above, strict=True)]
        width = max(cuts)
        self.edges = np.full((len(profile.features), width), np.inf)
        #: The edges that take values strictly above them (a feature's maximum, see above).
        self.strict = np.zeros(self.edges.shape, dtype=bool)
        self.reference = np.zeros((len(profile.features), width + 2))
        for i, feature in enumerate(profile.features):
            self.edges[i, : len(feature.edges)] = feature.edges
            if above[i]:
                self.edges[i, len(feature.edges)] = feature.max
                self.strict[i, len(feature.edges)] = True
            # Bin shares are of the rows with a value; here they are of all rows.
            present = 1 - feature.missing
            self.reference[i, : len(feature.proportions)] = np.multiply(
                feature.proportions, present
            )
            self.reference[i, -1] = feature.missing
        self.bins = width + 2
        #: Every feature's missing bin (NaN compares false with every edge, so is set apart).
        self.missing = self.bins - 1
        #: Each feature's own last bin: +inf passes the padding edges too and is held here.
        self.last = np.array(cuts)
        self.offsets = np.arange(len(self.features)) * self.bins
        self.counts = np.zeros((len(self.features), self.bins), dtype=np.int64)
        self.samples = 0
        #: Batches strided so far: each starts one row further on, so every row position is
        #: sampled alike (see :meth:`add`).
        self._strided = 0
        #: The edges in each float precision live batches came in (see :meth:`_edges`).
        self._edges_as: dict[np.dtype[np.generic], NDArray[Any]] = {}

    def add(self, batch: NDArray[np.generic]) -> None:
        if batch.dtype.kind not in "biuf":
            return
        width = len(self.features)
        if (batch.shape[-1] if batch.ndim > 1 else 1) != width:
            return  # not the shape the profile describes: nothing to compare
        rows = batch.reshape(-1, width)
        most = max(1, MAX_VALUES_PER_BATCH // width)
        if len(rows) > most:
            # A fixed start would keep the same positions of every batch: of a [B, T, F] input
            # whose stride is T, only its first step, which the profile's other steps are not.
            stride = -(-len(rows) // most)
            rows = rows[self._strided % stride :: stride]
            self._strided += 1
        # Bin index = number of edges <= value (side="right"), per row and feature.
        above = (rows[:, :, None] >= self._edges(rows.dtype)[None, :, :]).sum(axis=2)
        index = np.minimum(above, self.last)
        if rows.dtype.kind == "f":
            index[np.isnan(rows)] = self.missing
        index += self.offsets
        self.counts += np.bincount(index.ravel(), minlength=self.counts.size).reshape(
            self.counts.shape
        )
        self.samples += len(rows)

    def _edges(self, dtype: np.dtype[np.generic]) -> NDArray[Any]:
        """The edges to compare values of ``dtype`` with: a float input's in its own precision.

        An edge is an observed training value, often float64 (a CSV, a pandas frame); the same
        value sent as FP32 may lie just below it (0.7 → 0.69999998) and would land a bin lower,
        so identical data would read as drift. Rounded to the input's precision, it does not.
        A strict edge (a maximum) is then the next value up in that precision, so the maximum
        itself stays below it."""
        key = dtype if dtype.kind == "f" else self.edges.dtype
        edges = self._edges_as.get(key)
        if edges is None:
            with np.errstate(over="ignore"):  # beyond FP16's range: inf, as the values are
                edges = self.edges.astype(key)
            edges[self.strict] = np.nextafter(edges[self.strict], np.inf, dtype=key)
            self._edges_as[key] = edges
        return edges


class DriftMonitor:
    """Live bin counts of one version's inputs against its reference profile.

    :meth:`observe` is meant for one writer (the version's worker thread); readers (the scrape)
    take the same lock, so they see whole batches.
    """

    def __init__(self, profile: ReferenceProfile, *, min_samples: int = MIN_SAMPLES) -> None:
        self.profile = profile
        self.min_samples = min_samples
        self._inputs = {p.name: _InputCounts(p) for p in profile.inputs}
        self._lock = threading.Lock()

    def observe(self, inputs: Mapping[str, NDArray[np.generic]]) -> None:
        """Count one batch's rows (inputs the profile does not describe are ignored)."""
        with self._lock:
            for name, counts in self._inputs.items():
                batch = inputs.get(name)
                if batch is not None:
                    counts.add(batch)

    def samples(self) -> dict[str, int]:
        """Rows seen so far, per input."""
        with self._lock:
            return {name: c.samples for name, c in self._inputs.items()}

    def drift(self) -> list[FeatureDrift]:
        """PSI and KS of every feature of every input that has seen ``min_samples`` rows."""
        with self._lock:
            snapshot = [(c, c.counts.copy(), c.samples) for c in self._inputs.values()]
        found: list[FeatureDrift] = []
        for counts, live, samples in snapshot:
            if samples < max(self.min_samples, 1):
                continue
            shares = live / samples
            for i, feature in enumerate(counts.features):
                found.append(
                    FeatureDrift(
                        counts.name,
                        feature,
                        psi(counts.reference[i], shares[i]),
                        ks(counts.reference[i], shares[i]),
                        samples,
                    )
                )
        return found


def psi(expected: NDArray[np.float64], actual: NDArray[np.float64]) -> float:
    """Population stability index of shares ``actual`` against ``expected`` (same bins)."""
    p = np.maximum(expected, PSI_EPSILON)
    q = np.maximum(actual, PSI_EPSILON)
    return float(np.sum((q - p) * np.log(q / p)))


def ks(expected: NDArray[np.float64], actual: NDArray[np.float64]) -> float:
    """Largest gap between the cumulative shares of two histograms over the same bins."""
    return float(np.max(np.abs(np.cumsum(expected) - np.cumsum(actual))))


class DriftCollector(Collector):
    """Exports every registered monitor's drift at scrape time (register it on a registry).

    Series: ``inferd_input_drift_psi`` and ``inferd_input_drift_ks`` gauges per model, version,
    input and feature, and ``inferd_input_drift_samples_total`` per model, version and input.
    """

    def __init__(self) -> None:
        self._monitors: dict[tuple[str, str], DriftMonitor] = {}
        self._lock = threading.Lock()

    def watch(self, model: str, version: str, monitor: DriftMonitor) -> None:
        """Export ``monitor`` under the version's labels (replacing any earlier one)."""
        with self._lock:
            self._monitors[(model, version)] = monitor

    def forget(self, model: str, version: str) -> None:
        """Stop exporting a version (unloaded or replaced); idempotent."""
        with self._lock:
            self._monitors.pop((model, version), None)

    def describe(self) -> Iterable[Metric]:
        return self._families()

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            monitors = sorted(self._monitors.items())
        psi_family, ks_family, samples = self._families()
        for (model, version), monitor in monitors:
            for name, count in monitor.samples().items():
                samples.add_metric([model, version, name], count)
            for d in monitor.drift():
                labels = [model, version, d.input, d.feature]
                psi_family.add_metric(labels, d.psi)
                ks_family.add_metric(labels, d.ks)
        return [psi_family, ks_family, samples]

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, CounterMetricFamily]:
        labels = ["model", "version", "input", "feature"]
        return (
            GaugeMetricFamily(
                DRIFT_PSI,
                "Population stability index of an input feature against the reference profile.",
                labels=labels,
            ),
            GaugeMetricFamily(
                "inferd_input_drift_ks",
                "Kolmogorov-Smirnov statistic (binned) of an input feature against the reference.",
                labels=labels,
            ),
            CounterMetricFamily(
                "inferd_input_drift_samples",
                "Input rows compared with the reference profile.",
                labels=["model", "version", "input"],
            ),
        )
