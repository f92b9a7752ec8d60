"""Replicas' metrics behind the gateway's one ``/metrics``: scraped, relabelled, merged.

Each ready replica's exposition is parsed, every sample gains ``deployment``, ``replica`` and
``inferd_version`` labels, and samples of the same family from all replicas are written under
one ``# HELP`` / ``# TYPE`` header — concatenating the raw texts would repeat those lines, which
Prometheus (and ``promtool check metrics``) reject. The ``process_*`` series of the gateway's own
process (``inferd up``: gateway, supervisor and controllers) join the replicas' under
``replica="gateway"``, for the same reason.

``inferd_version`` is the spec's version the replica serves. The server's own ``version`` label is
its model's tag, which a shadow or canary may share with the primary (the same GGUF under other
engine settings, the same model with other batching): without it their series would merge on
every "by version" panel. On a cluster the ServiceMonitor gives the same label
(:mod:`inferd.deploy.monitoring`).

Controllers read the few replica series they act on as a :class:`ReplicaReading`: the
autoscaler's queue depth, the rollout's input drift.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Metric, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from inferd.control.gateway.keepalive import UpstreamFailed, UpstreamTimeout
from inferd.control.gateway.upstream import ReplicaPool, UpstreamRequest
from inferd.control.replicas.engine_metrics import to_inferd
from inferd.control.replicas.topology import Replica
from inferd.observe.drift import DRIFT_PSI
from inferd.observe.llm_metrics import KV_CACHE_USAGE, REQUESTS_WAITING, TOKENS_IN_FLIGHT
from inferd.observe.metrics import QUEUE_DEPTH

log = logging.getLogger(__name__)

#: A replica that does not answer its scrape within this is left out of this scrape.
SCRAPE_TIMEOUT_S = 2.0


#: The label naming the spec's version a replica serves (its ``version`` is the model's tag).
SPEC_VERSION = "inferd_version"

#: The ``replica`` label of the gateway's own process series.
GATEWAY_PROCESS = "gateway"


def merge(expositions: Iterable[tuple[Replica, str]], own_process: str = "") -> bytes:
    """One exposition from many: samples relabelled with their replica, one header per family;
    ``own_process`` (the gateway's ``process_*`` exposition) under ``replica="gateway"``."""
    families: dict[str, Metric] = {}
    labelled = [
        ({"deployment": r.deployment, "replica": r.id, SPEC_VERSION: r.version}, text)
        for r, text in expositions
    ]
    for extra, text in [({"replica": GATEWAY_PROCESS}, own_process), *labelled]:
        for family in text_string_to_metric_families(text):
            merged = families.get(family.name)
            if merged is None:
                merged = Metric(family.name, family.documentation, family.type, family.unit)
                families[family.name] = merged
            elif merged.type != family.type:
                # Two replicas disagree on a family's type (different server versions): keep the
                # first and skip the other rather than emit an invalid exposition.
                continue
            for sample in family.samples:
                merged.samples.append(sample._replace(labels={**sample.labels, **extra}))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(list(families.values())))
    return generate_latest(registry)


class _Fixed(Collector):
    """A collector that yields the families it was given."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


async def scrape(replicas: Iterable[tuple[Replica, ReplicaPool]]) -> list[tuple[Replica, str]]:
    """Every replica's ``/metrics`` text, concurrently; failures are logged and left out."""

    async def one(replica: Replica, pool: ReplicaPool) -> tuple[Replica, str] | None:
        try:
            response = await pool.request(UpstreamRequest("GET", "/metrics"), SCRAPE_TIMEOUT_S)
        except (UpstreamFailed, UpstreamTimeout) as exc:
            log.warning("scraping replica %s failed: %s", replica.id, exc)
            return None
        if response.status != 200:
            log.warning("scraping replica %s: HTTP %d", replica.id, response.status)
            return None
        text = response.body.decode("utf-8", "replace")
        if replica.engine is not None:  # an engine's own names, mapped onto inferd's too
            text = to_inferd(replica.engine, text)
        return replica, text

    results = await asyncio.gather(*(one(r, p) for r, p in replicas))
    return [r for r in results if r is not None]


@dataclass(frozen=True, slots=True)
class ReplicaReading:
    """What the controllers read from one replica's ``/metrics``."""

    replica: Replica
    #: Requests waiting for a batch, over every version the replica serves.
    queue_depth: float = 0.0
    #: The largest PSI of any input feature; None when the replica reports none (no reference
    #: profile, or too few rows yet).
    drift_psi: float | None = None
    #: Language models: generations waiting for a slot, and the tokens (prompt plus
    #: max_tokens) of those running and waiting.
    requests_waiting: float = 0.0
    tokens_in_flight: float = 0.0
    #: Share of the KV cache in use, the largest over the replica's models; None: not reported.
    kv_cache_usage: float | None = None


def read_replica(replica: Replica, text: str) -> ReplicaReading:
    """The reading in one replica's exposition ``text``."""
    sums = {QUEUE_DEPTH: 0.0, REQUESTS_WAITING: 0.0, TOKENS_IN_FLIGHT: 0.0}
    largest: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name in sums:
            sums[family.name] += sum(s.value for s in family.samples)
        elif family.name in (DRIFT_PSI, KV_CACHE_USAGE):
            for sample in family.samples:
                if math.isfinite(sample.value):
                    largest[family.name] = max(sample.value, largest.get(family.name, -math.inf))
    return ReplicaReading(
        replica,
        sums[QUEUE_DEPTH],
        largest.get(DRIFT_PSI),
        sums[REQUESTS_WAITING],
        sums[TOKENS_IN_FLIGHT],
        largest.get(KV_CACHE_USAGE),
    )
