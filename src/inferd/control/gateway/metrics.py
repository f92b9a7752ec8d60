"""The gateway's own Prometheus series, in a registry of its own.

Label values come only from the topology (deployment and version names the supervisor
published) and from the model's output names: a request naming a deployment the gateway does
not know counts under ``deployment="unknown"``, so random names in requests cannot grow the
number of series. A version that leaves the topology (an apply removed it, a rollout retired
it) loses its series once none of its requests is in flight (:meth:`GatewayMetrics.routing`),
so every rollout does not leave series behind; one that comes back counts from 0 again, which
``rate()`` and :meth:`~.readings.VersionTraffic.since` take as a reset. Every series is listed
in docs/gateway.md; controllers read them through :meth:`GatewayMetrics.reading`
(:mod:`.readings`), never by name.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Final

from prometheus_client import Counter, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.samples import Sample

from inferd.control.gateway.compare import Divergence
from inferd.control.gateway.readings import (
    Buckets,
    GatewayReading,
    Key,
    ShadowTraffic,
    VersionTraffic,
)
from inferd.control.replicas.topology import Topology

# What became of a request through the gateway: the model server's vocabulary, shared.
from inferd.observe.llm_metrics import TPOT_BUCKETS, TTFT_BUCKETS
from inferd.observe.loop_series import LoopCounter, LoopCounters, LoopHistogram, LoopHistograms
from inferd.observe.metrics import LATENCY_BUCKETS, OUTCOMES, own_registry

#: What became of a mirrored request: compared with the primary, or why it was not.
SHADOW_OUTCOMES: Final = (
    "compared", "uncompared", "client_error", "refused", "failed", "timeout", "dropped",
)  # fmt: skip
#: Why a request was sent to a second replica.
RETRY_REASONS: Final = ("connection", "unavailable")
UNKNOWN: Final = "unknown"

#: Seconds: the model servers' buckets and on to 5 minutes, since the gateway also relays
#: language-model generations (a streamed answer runs 30 s to minutes), which the servers time in
#: ``gen_ai_server_request_duration_seconds`` instead.
GATEWAY_LATENCY_BUCKETS: Final = (*LATENCY_BUCKETS, 60.0, 120.0, 300.0)
#: Divergence is a share in [0, 1] or a mean absolute difference (usually small).
_DIVERGENCE_BUCKETS = (0.0, 1e-6, 1e-4, 1e-3, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)
_SHADOW = ("deployment", "primary", "shadow")


def outcome_of(status: int) -> str:
    """The outcome a response status counts under."""
    if status < 400:
        return "success"
    if status == 503:
        return "unavailable"
    if status == 504:
        return "deadline"
    return "client_error" if status < 500 else "error"


class GatewayMetrics:
    """Counters, histograms and gauges of one gateway."""

    def __init__(self) -> None:
        self.registry = r = own_registry()
        # Apart from ``registry``: the replicas' process_* families carry the same names.
        self._process = own_registry()
        ProcessCollector(registry=self._process)
        # Written once per request, on the event loop: no lock (see observe.loop_series).
        self._requests = LoopCounters(
            "inferd_gateway_requests",
            "Requests through the gateway by the version that served them and outcome.",
            ("deployment", "version", "outcome"), r,
        )  # fmt: skip
        self._latency = LoopHistograms(
            "inferd_gateway_request_duration_seconds",
            "Time from a request reaching the gateway to its response (retries included).",
            ("deployment", "version"), r, GATEWAY_LATENCY_BUCKETS,
        )  # fmt: skip
        # inferd_gateway_time_to_first_token_seconds, inferd_gateway_inter_token_latency_seconds
        self._streams = _StreamTimings(
            r, "inferd_gateway", "version",
            "Streamed generations: time from the request reaching the gateway to the first "
            "event carrying generated text.",
            "Streamed generations: mean time between text events after the first, per request.",
        )  # fmt: skip
        self._retries = Counter(
            "inferd_gateway_upstream_retries",
            "Requests sent to a second replica after the first failed.",
            ("deployment", "version", "reason"), registry=r,
        )  # fmt: skip
        self._ejections = Counter(
            "inferd_gateway_outlier_ejections",
            "Replicas ejected as outliers after failures in a row (connections, 5xx answers); "
            "REST and gRPC eject apart.",
            ("deployment", "version"), registry=r,
        )  # fmt: skip
        self._shadow = Counter(
            "inferd_gateway_shadow_requests",
            "Mirrored requests by outcome (compared; uncompared: the primary had no whole answer; "
            "client_error: a 4xx to a request the primary did not answer either; refused: a 4xx "
            "to one it answered; failed, timeout, dropped when full).",
            (*_SHADOW, "outcome"), registry=r,
        )  # fmt: skip
        self._divergence = Histogram(
            "inferd_gateway_shadow_divergence",
            "Per output and comparison: share of differing elements (integer, label and string "
            "outputs) or mean absolute difference (float outputs), shadow against primary.",
            (*_SHADOW, "output", "kind"), buckets=_DIVERGENCE_BUCKETS, registry=r,
        )  # fmt: skip
        self._shadow_latency = LoopHistograms(
            "inferd_gateway_shadow_request_duration_seconds",
            "Mirrored copies: time from a copy being sent to the shadow's answer, failure or "
            "timeout (dropped copies are not sent).",
            ("deployment", "shadow"), r, GATEWAY_LATENCY_BUCKETS,
        )  # fmt: skip
        # inferd_gateway_shadow_time_to_first_token_seconds, …_shadow_inter_token_latency_seconds
        self._shadow_streams = _StreamTimings(
            r, "inferd_gateway_shadow", "shadow",
            "Mirrored streamed generations: time from the copy being sent to the shadow's first "
            "event carrying generated text.",
            "Mirrored streamed generations: mean time between the shadow's text events after "
            "the first, per copy.",
        )  # fmt: skip
        self._compared = Counter(
            "inferd_gateway_shadow_compared_elements",
            "Output elements compared between shadow and primary.",
            (*_SHADOW, "output"), registry=r,
        )  # fmt: skip
        self._differing = Counter(
            "inferd_gateway_shadow_differing_elements",
            "Elements of integer, label and string outputs that differed between shadow and "
            "primary (divide by compared elements for the share).",
            (*_SHADOW, "output"), registry=r,
        )  # fmt: skip
        #: Elements compared by share (labels, and outputs found fully different), per
        #: (deployment, shadow): what the label share divides by. An output's compared
        #: elements include its mean-difference comparisons too, when some of them mismatch.
        self._share_elements: defaultdict[Key, float] = defaultdict(float)
        self.generation = Gauge(
            "inferd_gateway_topology_generation",
            "Generation of the topology snapshot the gateway routes by.",
            registry=r,
        )
        self._bound: dict[tuple[str, str], tuple[dict[str, LoopCounter], LoopHistogram]] = {}
        self._shadow_bound: dict[tuple[str, str, str, str], Counter] = {}
        self._shadow_latency_bound: dict[tuple[str, str], LoopHistogram] = {}
        self.scrape_failures = Counter(
            "inferd_gateway_replica_scrape_failures",
            "Replica /metrics scrapes that failed while aggregating.",
            registry=r,
        )
        #: The (deployment, version) pairs of the topology routed by (None: none yet, all
        #: kept), the replica ids each had last, and the requests outstanding per replica id.
        self._live: frozenset[Key] | None = None
        self._replica_ids: dict[Key, frozenset[str]] = {}
        self._outstanding: Mapping[str, int] = {}
        #: Pairs with a series that :meth:`_bound` does not list (streams, retries, shadows).
        self._seen: set[Key] = set()

    def routing(self, topology: Topology, outstanding: Mapping[str, int]) -> None:
        """The gateway routes by ``topology`` now (``outstanding``: its requests in flight per
        replica id, read as they change): the series of a version that left it go once none
        of its replicas has a request in flight — now, or at a later scrape or reading."""
        self.generation.set(topology.generation)
        self._outstanding = outstanding
        live = set()
        for d in topology.deployments.values():
            live.add((d.name, UNKNOWN))  # requests refused before a version was chosen
            for v in d.versions:
                live.add((d.name, v.name))
                self._replica_ids[(d.name, v.name)] = frozenset(r.id for r in v.replicas)
        self._live = frozenset(live)
        self._forget_retired()

    def _forget_retired(self) -> None:
        """Drop the series of each version no longer routed to whose requests are done."""
        live = self._live
        if live is None:
            return
        keys = self._seen | self._bound.keys() | self._shadow_latency_bound.keys()
        keys |= {(d, v) for (d, p, s, _) in self._shadow_bound for v in (p, s)}
        for key in keys - live:
            ids = self._replica_ids.get(key, frozenset())
            if key[0] != UNKNOWN and not any(self._outstanding.get(i) for i in ids):
                self._forget(*key)

    def _forget(self, deployment: str, version: str) -> None:
        self._replica_ids.pop((deployment, version), None)
        self._seen.discard((deployment, version))
        self._share_elements.pop((deployment, version), None)
        if self._bound.pop((deployment, version), None) is not None:
            for outcome in OUTCOMES:
                self._requests.remove(deployment, version, outcome)
            self._latency.remove(deployment, version)
        if self._shadow_latency_bound.pop((deployment, version), None) is not None:
            self._shadow_latency.remove(deployment, version)
        for key in [k for k in self._shadow_bound if k[0] == deployment and version in k[1:3]]:
            del self._shadow_bound[key]
        self._streams.remove(deployment, version)
        self._shadow_streams.remove(deployment, version)
        for counter in (self._retries, self._ejections):
            counter.remove_by_labels({"deployment": deployment, "version": version})
        for metric in (self._shadow, self._divergence, self._compared, self._differing):
            metric.remove_by_labels({"deployment": deployment, "primary": version})
            metric.remove_by_labels({"deployment": deployment, "shadow": version})

    def request(self, deployment: str, version: str, status: int, seconds: float) -> None:
        # The hot path: children are looked up once per version, not once per request.
        bound = self._bound.get((deployment, version))
        if bound is None:
            bound = self._bound[(deployment, version)] = (
                {o: self._requests.labels(deployment, version, o) for o in OUTCOMES},
                self._latency.labels(deployment, version),
            )
        bound[0][outcome_of(status)].inc()
        bound[1].observe(seconds)

    def stream(self, deployment: str, version: str, ttft: float, itl: float | None) -> None:
        """One streamed generation relayed: its time to first token and, with two or more
        text events, its mean inter-token latency."""
        self._seen.add((deployment, version))
        self._streams.observe(deployment, version, ttft, itl)

    def unknown_deployment(self) -> None:
        self._requests.labels(UNKNOWN, "", "client_error").inc()

    def retry(self, deployment: str, version: str, reason: str) -> None:
        self._seen.add((deployment, version))
        self._retries.labels(deployment, version, reason).inc()

    def ejection(self, deployment: str, version: str) -> None:
        self._seen.add((deployment, version))
        self._ejections.labels(deployment, version).inc()

    def shadow(self, deployment: str, primary: str, shadow: str, outcome: str) -> None:
        # Once per primary request too (a copy sent or dropped): bound once per pairing.
        key = (deployment, primary, shadow, outcome)
        child = self._shadow_bound.get(key)
        if child is None:
            child = self._shadow_bound[key] = self._shadow.labels(*key)
        child.inc()

    def shadow_answered(self, deployment: str, shadow: str, seconds: float) -> None:
        """One mirrored copy sent to ``shadow`` ended (answered, failed or timed out) after
        ``seconds``."""
        key = (deployment, shadow)
        child = self._shadow_latency_bound.get(key)
        if child is None:
            child = self._shadow_latency_bound[key] = self._shadow_latency.labels(*key)
        child.observe(seconds)

    def shadow_stream(self, deployment: str, shadow: str, ttft: float, itl: float | None) -> None:
        """One mirrored streamed generation read: as :meth:`stream`, for the shadow."""
        self._seen.add((deployment, shadow))
        self._shadow_streams.observe(deployment, shadow, ttft, itl)

    def divergence(self, deployment: str, primary: str, shadow: str, d: Divergence) -> None:
        self._seen.update(((deployment, primary), (deployment, shadow)))
        self._divergence.labels(deployment, primary, shadow, d.output, d.kind).observe(d.value)
        self._compared.labels(deployment, primary, shadow, d.output).inc(d.elements)
        if d.kind == "share":
            self._differing.labels(deployment, primary, shadow, d.output).inc(d.differing)
            self._share_elements[(deployment, shadow)] += d.elements

    def render(self) -> bytes:
        self._forget_retired()
        return generate_latest(self.registry)

    def render_process(self) -> str:
        """The ``process_*`` series of this process (read from /proc now), for
        :func:`.aggregate.merge` to label beside the replicas' own."""
        return generate_latest(self._process).decode()

    def reading(self) -> GatewayReading:
        """What every series holds now, as typed values (see :mod:`.readings`)."""
        self._forget_retired()
        outcomes: defaultdict[Key, dict[str, int]] = defaultdict(dict)
        for s in _samples(self._requests, "_total"):
            key = (s.labels["deployment"], s.labels["version"])
            outcomes[key][s.labels["outcome"]] = round(s.value)
        buckets = _buckets_by_key(self._latency)
        ttft, itl = self._streams.buckets()
        versions = {
            key: VersionTraffic(
                outcomes.get(key, {}),
                buckets.get(key, ()),
                ttft.get(key, ()),
                itl.get(key, ()),
            )
            for key in {**outcomes, **buckets, **ttft}
        }
        return GatewayReading(versions, self._shadow_reading())

    def _shadow_reading(self) -> dict[Key, ShadowTraffic]:
        """Per (deployment, shadow), summed over the primaries it mirrored."""
        outcomes: defaultdict[Key, dict[str, int]] = defaultdict(dict)
        for s in _samples(self._shadow, "_total"):
            counts = outcomes[_shadow_key(s)]
            counts[s.labels["outcome"]] = counts.get(s.labels["outcome"], 0) + round(s.value)
        totals: defaultdict[Key, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for s in _samples(self._divergence, "_count", "_sum"):
            fields = _SUM_FIELDS.get(s.labels["kind"])
            if fields is not None:
                key = _shadow_key(s)
                totals[key][fields[0] if s.name.endswith("_count") else fields[1]] += s.value
        for key, elements in self._share_elements.items():
            totals[key]["label_elements"] += elements
        for s in _samples(self._differing, "_total"):
            totals[_shadow_key(s)]["label_differing"] += s.value
        buckets = _buckets_by_key(self._shadow_latency, "shadow")
        ttft, itl = self._shadow_streams.buckets()
        return {
            key: ShadowTraffic(
                outcomes.get(key, {}),
                **totals.get(key, {}),
                buckets=buckets.get(key, ()),
                ttft_buckets=ttft.get(key, ()),
                itl_buckets=itl.get(key, ()),
            )
            for key in {**outcomes, **totals, **buckets, **ttft}
        }


class _StreamTimings:
    """The ``<prefix>_time_to_first_token_seconds`` and ``<prefix>_inter_token_latency_seconds``
    histograms of streamed generations, labelled ``deployment`` and ``name`` (the version that
    answered, or the shadow that answered a mirrored copy)."""

    def __init__(
        self, registry: CollectorRegistry, prefix: str, name: str, ttft_help: str, itl_help: str
    ) -> None:
        self._name = name
        labels = ("deployment", name)
        self.ttft = Histogram(
            f"{prefix}_time_to_first_token_seconds", ttft_help, labels,
            buckets=TTFT_BUCKETS, registry=registry,
        )  # fmt: skip
        self.itl = Histogram(
            f"{prefix}_inter_token_latency_seconds", itl_help, labels,
            buckets=TPOT_BUCKETS, registry=registry,
        )  # fmt: skip

    def observe(self, deployment: str, name: str, ttft: float, itl: float | None) -> None:
        self.ttft.labels(deployment, name).observe(ttft)
        if itl is not None:
            self.itl.labels(deployment, name).observe(itl)

    def remove(self, deployment: str, name: str) -> None:
        for family in (self.ttft, self.itl):
            family.remove_by_labels({"deployment": deployment, self._name: name})

    def buckets(self) -> tuple[dict[Key, Buckets], dict[Key, Buckets]]:
        """Time to first token's buckets, and inter-token latency's, by key."""
        return _buckets_by_key(self.ttft, self._name), _buckets_by_key(self.itl, self._name)


#: Divergence kinds read as (comparisons, sum) fields of :class:`ShadowTraffic`.
_SUM_FIELDS: Final = {
    "mad": ("score_comparisons", "score_mad_sum"),
    "edit_distance": ("edit_comparisons", "edit_distance_sum"),
    "cosine_distance": ("cosine_comparisons", "cosine_distance_sum"),
}


def _buckets_by_key(histogram: Collector, version: str = "version") -> dict[Key, Buckets]:
    """A (deployment, version) histogram's cumulative buckets, by key; ``version`` names the
    version's label (``shadow`` for mirrored copies)."""
    found: defaultdict[Key, list[tuple[float, float]]] = defaultdict(list)
    for s in _samples(histogram, "_bucket"):
        le = s.labels["le"]
        bound = math.inf if le == "+Inf" else float(le)
        found[(s.labels["deployment"], s.labels[version])].append((bound, s.value))
    return {key: tuple(sorted(values)) for key, values in found.items()}


def _samples(metric: Collector, *suffixes: str) -> Iterable[Sample]:
    """The samples of ``metric`` whose name ends with one of ``suffixes``."""
    for family in metric.collect():
        for sample in family.samples:
            if sample.name.endswith(suffixes):
                yield sample


def _shadow_key(sample: Sample) -> Key:
    return (sample.labels["deployment"], sample.labels["shadow"])
