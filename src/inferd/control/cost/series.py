"""The ``inferd_cost_*`` series on the gateway's ``/metrics`` (docs/metrics.md#cost).

A collector, so every value is read from the sampler when Prometheus scrapes: capacity held and
used, replica-seconds and predictions per version always; money (held, idle, scale-to-zero
savings, cost per 1k predictions over the last 5 minutes) and ``inferd_cost_info`` only while
the spec has a ``cost:`` section. Label values are deployment and version names of the specs
``inferd up`` ran in the last :data:`~.sampler.KEEP_S`, so they are bounded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from inferd.control.cost.sampler import CostSampler, Totals
from inferd.cost.accounting import account

#: The window ``inferd_cost_per_1k_predictions`` (and the status document) cover.
RECENT_S = 300.0
_VERSION = ("deployment", "version")

#: Capacity series: name, help, and how to read it from a version's totals.
_CAPACITY: tuple[tuple[str, str, Callable[[Totals], float]], ...] = (
    ("inferd_cost_replica_seconds", "Seconds replica processes ran (held capacity).",
     lambda t: t.replica_seconds),
    ("inferd_cost_held_cpu_core_seconds", "Core-seconds held: replica-seconds times the CPU "
     "request (1 core without one).", lambda t: t.held.cores),
    ("inferd_cost_held_memory_gib_seconds", "GiB-seconds of memory held: replica-seconds times "
     "the memory request (the replica's peak RSS without one).", lambda t: t.held.memory_gib),
    ("inferd_cost_held_gpu_seconds", "GPU-seconds held (a MIG slice counts its fraction).",
     lambda t: t.held.gpus),
    ("inferd_cost_used_cpu_core_seconds", "CPU seconds the replicas' processes used, up to "
     "their request.", lambda t: t.used.cores),
    ("inferd_cost_used_memory_gib_seconds", "GiB-seconds of resident memory the replicas "
     "used, up to their request.", lambda t: t.used.memory_gib),
    ("inferd_cost_used_gpu_seconds", "GPU-seconds busy (NVML utilisation of the GPUs held).",
     lambda t: t.used.gpus),
)  # fmt: skip


class CostSeries(Collector):
    """Yields the ``inferd_cost_*`` families of one sampler."""

    def __init__(self, sampler: CostSampler) -> None:
        self._sampler = sampler

    def register(self, registry: CollectorRegistry) -> CostSeries:
        registry.register(self)
        return self

    def describe(self) -> Iterable[Metric]:
        return ()  # the money families exist only while the spec prices capacity

    def collect(self) -> Iterator[Metric]:
        totals = sorted(self._sampler.totals.items())
        for name, text, read in _CAPACITY:
            family = CounterMetricFamily(name, text, labels=_VERSION)
            for key, t in totals:
                family.add_metric(key, read(t))
            yield family
        predictions = CounterMetricFamily(
            "inferd_cost_predictions",
            "Requests answered successfully (primary traffic; mirrored copies are not counted).",
            labels=_VERSION,
        )
        for key, t in totals:
            predictions.add_metric(key, t.predictions)
        yield predictions
        book = self._sampler.book()
        if book is None:
            return
        info = GaugeMetricFamily(
            "inferd_cost_info", "1, labelled with the currency of the inferd_cost_* money.",
            labels=("currency",),
        )  # fmt: skip
        info.add_metric((book.currency,), 1)
        yield info
        yield _money(
            "inferd_cost_held", "Money for capacity held (the spec's prices).", totals,
            lambda t: t.money_held,
        )  # fmt: skip
        yield _money(
            "inferd_cost_idle", "Money for capacity held and not used.", totals,
            lambda t: t.money_idle,
        )  # fmt: skip
        saved = CounterMetricFamily(
            "inferd_cost_scale_to_zero_savings",
            "Money not spent while the deployment sat at zero replicas (one replica's price).",
            labels=("deployment",),
        )
        for deployment, amount in sorted(self._sampler.savings.items()):
            saved.add_metric((deployment,), amount)
        yield saved
        per_1k = GaugeMetricFamily(
            "inferd_cost_per_1k_predictions",
            "Money held per 1000 predictions over the last 5 minutes (absent without any).",
            labels=_VERSION,
        )
        for a in account(self._sampler.intervals(RECENT_S), book):
            if a.per_1k_predictions is not None:
                per_1k.add_metric((a.deployment, a.version), a.per_1k_predictions)
        yield per_1k


def _money(
    name: str,
    text: str,
    totals: list[tuple[tuple[str, str], Totals]],
    read: Callable[[Totals], float],
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, text, labels=_VERSION)
    for key, t in totals:
        family.add_metric(key, read(t))
    return family
