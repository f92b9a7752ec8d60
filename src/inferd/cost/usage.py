"""What a version's measurements say over a window: the inputs of right-sizing.

:func:`usage` reduces a version's :class:`~inferd.cost.accounting.VersionInterval` records to
a :class:`Usage`: load (requests per second over the intervals and in flight over the samples,
at the median, p95 and peak), CPU (per interval, the version's replicas' cores added up; CPU
seconds per request over the window), memory (the largest peak RSS of any replica), GPUs (busy
share of what was held) and the batch sizes the replicas ran. Percentiles are nearest-rank over
the intervals' values, so each is a value that was actually measured.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from inferd.cost.accounting import Buckets, VersionInterval


@dataclass(frozen=True, slots=True)
class Usage:
    """One version's load and use over a window."""

    deployment: str
    version: str
    #: Seconds the window covers, and replicas held on average over it.
    seconds: float
    replicas: float
    #: Requests received (any outcome, mirrored copies included) and answered successfully.
    requests: int
    predictions: int
    #: Requests per second over each interval: median, p95 and the largest.
    rps_p50: float
    rps_p95: float
    rps_max: float
    #: Requests in flight to the version's replicas, sampled: median and p95.
    concurrency_p50: float
    concurrency_p95: float
    #: The version's replicas' cores in use, added up, per interval: p95.
    cores_p95: float
    #: CPU seconds the replicas spent per request received (idle time included); None without
    #: requests.
    cpu_seconds_per_request: float | None
    #: The largest peak resident memory of any of its replicas, GiB (None: never measured).
    peak_gib: float | None
    #: Share of the GPUs it held that were busy, p95 over its replicas' slices (None: no GPU).
    gpu_busy_p95: float | None
    #: The most GPU memory any of its replicas had in use, GiB (None: no GPU).
    gpu_memory_gib: float | None
    #: Batch sizes its replicas ran (cumulative buckets).
    batches: Buckets
    shadow: bool = False
    #: The most requests in flight sampled (0: not measured, then its p95 stands for it).
    concurrency_max: float = 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` percentile (0 < q ≤ 1) of ``values``; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


def usage(intervals: Iterable[VersionInterval]) -> list[Usage]:
    """Per version (in the order first seen), what its intervals measured."""
    by_version: defaultdict[tuple[str, str], list[VersionInterval]] = defaultdict(list)
    for interval in intervals:
        by_version[interval.key].append(interval)
    return [_one(key, listed) for key, listed in by_version.items()]


def _one(key: tuple[str, str], intervals: list[VersionInterval]) -> Usage:
    seconds = sum(i.seconds for i in intervals)
    rates = [i.requests / i.seconds for i in intervals if i.seconds > 0]
    cores = [
        sum(r.used.cores * r.seconds for r in i.replicas) / i.seconds
        for i in intervals
        if i.seconds > 0 and i.replicas
    ]
    cpu_seconds = sum(r.used.cores * r.seconds for i in intervals for r in i.replicas)
    requests = sum(i.requests for i in intervals)
    concurrency = [c for i in intervals for c in i.concurrency]
    peaks = [r.peak_gib for i in intervals for r in i.replicas if r.peak_gib > 0]
    busy = [r.used.gpus / r.held.gpus for i in intervals for r in i.replicas if r.held.gpus > 0]
    return Usage(
        deployment=key[0],
        version=key[1],
        seconds=seconds,
        replicas=sum(r.seconds for i in intervals for r in i.replicas) / seconds if seconds else 0,
        requests=requests,
        predictions=sum(i.predictions for i in intervals),
        rps_p50=percentile(rates, 0.5),
        rps_p95=percentile(rates, 0.95),
        rps_max=max(rates, default=0.0),
        concurrency_p50=percentile(concurrency, 0.5),
        concurrency_p95=percentile(concurrency, 0.95),
        cores_p95=percentile(cores, 0.95),
        cpu_seconds_per_request=cpu_seconds / requests if requests else None,
        peak_gib=max(peaks, default=None),
        gpu_busy_p95=percentile(busy, 0.95) if busy else None,
        gpu_memory_gib=max(
            (r.gpu_memory_gib for i in intervals for r in i.replicas if r.held.gpus > 0),
            default=None,
        ),
        batches=add_buckets(i.batches for i in intervals),
        shadow=any(i.shadow for i in intervals),
        concurrency_max=max(concurrency, default=0.0),
    )


def add_buckets(histograms: Iterable[Buckets]) -> Buckets:
    """Cumulative histograms with the same bounds, added bucket by bucket."""
    sums: defaultdict[float, float] = defaultdict(float)
    for buckets in histograms:
        for bound, count in buckets:
            sums[bound] += count
    return tuple(sorted(sums.items()))
