"""What the cost sampler takes from each replica's own ``/metrics``: the batches its model ran.

``inferd_batch_size`` is a histogram of rows per batch, cumulative since the replica process
started. :class:`BatchCounts` keeps each process's last reading, so an interval gets what was
added since (a restarted process starts again from zero: its whole count is new).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from prometheus_client.parser import text_string_to_metric_families

from inferd.control.replicas.topology import Replica
from inferd.cost.accounting import Buckets
from inferd.cost.usage import add_buckets

BATCH_SIZE = "inferd_batch_size"


def batch_histogram(text: str) -> tuple[float, Buckets]:
    """Rows in all batches and the cumulative buckets of ``inferd_batch_size`` in an
    exposition (every version it serves added up)."""
    rows = 0.0
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != BATCH_SIZE:
            continue
        for sample in family.samples:
            if sample.name.endswith("_sum"):
                rows += sample.value
            elif sample.name.endswith("_bucket"):
                le = sample.labels["le"]
                bound = math.inf if le == "+Inf" else float(le)
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
    return rows, tuple(sorted(buckets.items()))


class BatchCounts:
    """Per replica process, the last histogram read; :meth:`added` returns what is new."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, int | None], tuple[float, Buckets]] = {}

    def added(
        self, scraped: Iterable[tuple[Replica, str]], running: Iterable[Replica]
    ) -> dict[tuple[str, str], tuple[int, Buckets]]:
        """Rows and batch buckets each version's replicas added since the last call;
        ``running`` are the replicas still running (the others' readings are forgotten; one
        whose scrape failed this time keeps its last reading)."""
        rows: dict[tuple[str, str], int] = {}
        buckets: dict[tuple[str, str], list[Buckets]] = {}
        live = {(r.id, r.pid) for r in running}
        self._last = {k: v for k, v in self._last.items() if k in live}
        for replica, text in scraped:
            key = (replica.id, replica.pid)
            now_rows, now_buckets = batch_histogram(text)
            before_rows, before_buckets = self._last.get(key, (0.0, ()))
            self._last[key] = (now_rows, now_buckets)
            if now_rows < before_rows:  # counted again from zero: a new process
                before_rows, before_buckets = 0.0, ()
            version = (replica.deployment, replica.version)
            rows[version] = rows.get(version, 0) + round(now_rows - before_rows)
            earlier = dict(before_buckets)
            delta = tuple((b, c - earlier.get(b, 0.0)) for b, c in now_buckets)
            buckets.setdefault(version, []).append(delta)
        return {k: (rows[k], add_buckets(buckets[k])) for k in rows}
