"""What the gateway says about the models behind it, as its clients address them: the
repository index (from the topology) and statistics (summed over each version's replicas).

Clients of the gateway name deployments and their versions, never the replicas' model names, so
both documents do too: one index entry per deployment and version, and one statistics entry per
deployment and version whose counters are the sums over that version's ready replicas (fetched
from each replica's ``/v2/models/{model}/stats`` when asked; a replica that does not answer in
:data:`STATS_TIMEOUT_S` is left out). A shadow version takes no client requests and cannot be
addressed, so it is in neither (its traffic is on ``/metrics`` and the dashboard). The counters
are what the current replicas counted since they started: a replaced or restarted replica's
counts leave with it.

REST: ``POST /v2/repository/index``, ``GET /v2/models[/{m}[/versions/{v}]]/stats``. Models are
loaded and unloaded by ``inferd apply``, so the repository's load and unload answer 501 (and
Triton's ``GET …/config``, as ``inferd serve`` answers it). gRPC
serves the same documents (:mod:`.grpc_gateway`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NoReturn
from urllib.parse import quote

import orjson

from inferd.control.gateway.forwarding import refusing
from inferd.control.gateway.keepalive import UpstreamFailed, UpstreamTimeout
from inferd.control.gateway.proxy import Proxy
from inferd.control.gateway.upstream import UpstreamRequest
from inferd.control.replicas.topology import DeploymentRoute, Replica, Topology, VersionRoute
from inferd.errors import InvalidArgument, ModelNotFound, Unsupported
from inferd.protocols.http import Request, Response, Router, json_response
from inferd.protocols.v2.documents import index_document, statistics_document
from inferd.protocols.v2.handlers import json_body
from inferd.serving.stats import (
    InferBatchStatistics,
    InferStatistics,
    ModelStatistics,
    StatisticDuration,
    VersionState,
)
from inferd.serving.types import RepositoryEntry

log = logging.getLogger(__name__)

#: How long one replica may take to report its statistics.
STATS_TIMEOUT_S = 2.0
_DURATIONS = ("success", "fail", "queue", "compute_input", "compute_infer", "compute_output",
              "cache_hit")  # fmt: skip
_BATCH_DURATIONS = ("compute_input", "compute_infer", "compute_output")
_NO_LOADS = (
    "inferd up's gateway does not load or unload models: change the spec and run `inferd apply`"
)


def addressable(route: DeploymentRoute) -> tuple[VersionRoute, ...]:
    """The versions a client can address: all but the shadow."""
    return tuple(v for v in route.versions if v.name != route.shadow)


def repository_index(topology: Topology, *, ready_only: bool = False) -> list[RepositoryEntry]:
    """One entry per deployment and addressable version: READY with a ready replica, LOADING
    while one starts, else UNAVAILABLE saying why."""
    entries = []
    for route in topology.deployments.values():
        for version in addressable(route):
            entry = _entry(route.name, version)
            if not ready_only or entry.state is VersionState.READY:
                entries.append(entry)
    return entries


def _entry(deployment: str, version: VersionRoute) -> RepositoryEntry:
    replicas = version.replicas
    ready = sum(r.state == "ready" for r in replicas)
    if ready:
        return RepositoryEntry(deployment, version.name, VersionState.READY)
    if any(r.state == "starting" for r in replicas):
        return RepositoryEntry(deployment, version.name, VersionState.LOADING, "replica starting")
    failed = next((r.reason for r in replicas if r.state == "failed" and r.reason), None)
    why = f"replica failed: {failed}" if failed else "no replica running"
    return RepositoryEntry(deployment, version.name, VersionState.UNAVAILABLE, why)


def parse_statistics(doc: object) -> list[ModelStatistics]:
    """A replica's ``{"model_stats": [...]}`` back into records; ValueError when malformed."""
    if not isinstance(doc, dict) or not isinstance(doc.get("model_stats"), list):
        raise ValueError("not a statistics document")
    return [_model_statistics(entry) for entry in doc["model_stats"]]


def _int(doc: Mapping[str, Any], key: str) -> int:
    value = doc.get(key, 0)
    if type(value) is not int:
        raise ValueError(f"{key} is not an integer")
    return value


def _duration(doc: Mapping[str, Any], key: str) -> StatisticDuration:
    value = doc.get(key) or {}
    if not isinstance(value, dict):
        raise ValueError(f"{key} is not an object")
    return StatisticDuration(_int(value, "count"), _int(value, "ns"))


def _model_statistics(doc: object) -> ModelStatistics:
    if not isinstance(doc, dict):
        raise ValueError("a model_stats entry is not an object")
    infer = doc.get("inference_stats") or {}
    batches = doc.get("batch_stats") or []
    if not isinstance(infer, dict) or not isinstance(batches, list):
        raise ValueError("inference_stats or batch_stats malformed")
    return ModelStatistics(
        name=str(doc.get("name", "")),
        version=str(doc.get("version", "")),
        last_inference=_int(doc, "last_inference"),
        inference_count=_int(doc, "inference_count"),
        execution_count=_int(doc, "execution_count"),
        inference_stats=InferStatistics(*(_duration(infer, k) for k in _DURATIONS)),
        batch_stats=tuple(
            InferBatchStatistics(
                _int(b, "batch_size"), *(_duration(b, k) for k in _BATCH_DURATIONS)
            )
            for b in batches
            if isinstance(b, dict)
        ),
    )


def _total(durations: Iterable[StatisticDuration]) -> StatisticDuration:
    count = ns = 0
    for duration in durations:
        count += duration.count
        ns += duration.ns
    return StatisticDuration(count, ns)


def summed(name: str, version: str, parts: Iterable[ModelStatistics]) -> ModelStatistics:
    """One record for ``name`` and ``version`` adding up ``parts``: counts and durations
    summed, batch statistics summed per batch size, the latest ``last_inference``."""
    parts = list(parts)
    batches: defaultdict[int, list[InferBatchStatistics]] = defaultdict(list)
    for part in parts:
        for batch in part.batch_stats:
            batches[batch.batch_size].append(batch)
    return ModelStatistics(
        name,
        version,
        last_inference=max((p.last_inference for p in parts), default=0),
        inference_count=sum(p.inference_count for p in parts),
        execution_count=sum(p.execution_count for p in parts),
        inference_stats=InferStatistics(
            *(_total(getattr(p.inference_stats, k) for p in parts) for k in _DURATIONS)
        ),
        batch_stats=tuple(
            InferBatchStatistics(
                size, *(_total(getattr(b, k) for b in same) for k in _BATCH_DURATIONS)
            )
            for size, same in sorted(batches.items())
        ),
    )


class Catalog:
    """The index and statistics of the deployments in ``topology()``; ``deployment(name)``
    looks a client's deployment name up (raising, and counting, an unknown one)."""

    def __init__(
        self,
        topology: Callable[[], Topology],
        deployment: Callable[[str], DeploymentRoute],
        proxy: Proxy,
    ) -> None:
        self._topology = topology
        self._deployment = deployment
        self._proxy = proxy

    def index(self, *, ready_only: bool = False) -> list[RepositoryEntry]:
        return repository_index(self._topology(), ready_only=ready_only)

    async def statistics(
        self, deployment: str | None = None, version: str | None = None
    ) -> list[ModelStatistics]:
        """One record per addressable version of ``deployment`` (every deployment's when
        None), or only ``version``; raises ModelNotFound for a name the gateway lacks."""
        selected = self._select(deployment, version)
        reports = await asyncio.gather(*(self._version_statistics(v) for _, v in selected))
        return [
            summed(route.name, v.name, parts)
            for (route, v), parts in zip(selected, reports, strict=True)
        ]

    def _select(
        self, deployment: str | None, version: str | None
    ) -> list[tuple[DeploymentRoute, VersionRoute]]:
        if deployment is None:
            routes: Iterable[DeploymentRoute] = self._topology().deployments.values()
            return [(r, v) for r in routes for v in addressable(r)]
        route = self._deployment(deployment)
        if version is None:
            return [(route, v) for v in addressable(route)]
        found = route.version(version)
        if found is None or found.name == route.shadow:
            raise ModelNotFound(route.name, version)
        return [(route, found)]

    async def _version_statistics(self, version: VersionRoute) -> list[ModelStatistics]:
        reports = await asyncio.gather(
            *(self._replica_statistics(version, r) for r in version.ready_replicas)
        )
        return [s for report in reports for s in report]

    async def _replica_statistics(
        self, version: VersionRoute, replica: Replica
    ) -> list[ModelStatistics]:
        path = f"/v2/models/{quote(version.model, safe='')}/stats"
        try:
            answer = await self._proxy.pool(replica).request(
                UpstreamRequest("GET", path), STATS_TIMEOUT_S
            )
            if answer.status != 200:
                raise ValueError(f"status {answer.status}")
            return parse_statistics(orjson.loads(answer.body))
        except (UpstreamFailed, UpstreamTimeout, ValueError) as exc:
            log.info("statistics of replica %s left out: %s", replica.id, exc)
            return []

    # -- REST ---------------------------------------------------------------------------------

    def add_routes(self, router: Router) -> None:
        router.add("POST", "/v2/repository/index", self._index)
        router.add("GET", "/v2/models/stats", self._stats)
        router.add("GET", "/v2/models/{model}/stats", self._stats)
        router.add("GET", "/v2/models/{model}/versions/{version}/stats", self._stats)
        for base in ("/v2/models/{model}", "/v2/models/{model}/versions/{version}"):
            router.add("GET", f"{base}/config", self._no_config)
        for path in ("/v2/repository/models/{model}/load", "/v2/repository/models/{model}/unload"):
            router.add("POST", path, refusing(_no_loads), head=_no_loads)

    async def _index(self, request: Request) -> Response:
        body = json_body(request)
        unknown = sorted(key for key in body if key != "ready")  # as inferd serve refuses them
        if unknown:
            raise InvalidArgument(
                f"unknown field {unknown[0]!r} in the body: it takes only 'ready'"
            )
        ready = body.get("ready", False)
        if not isinstance(ready, bool):
            raise InvalidArgument("'ready' must be a boolean")
        return json_response(index_document(self.index(ready_only=ready)))

    async def _stats(self, request: Request) -> Response:
        stats = await self.statistics(request.params.get("model"), request.params.get("version"))
        return json_response(statistics_document(stats))

    async def _no_config(self, request: Request) -> Response:
        """Triton's model configuration (tritonclient's ``get_model_config``), which ``inferd
        serve`` does not serve either: 501 pointing to the deployment's metadata, as it does
        (its replica's would name the replica's model); 404 for an unknown deployment or
        version."""
        name, version = request.params["model"], request.params.get("version")
        route = self._select(name, version)[0][0] if version else self._deployment(name)
        raise Unsupported(
            "Triton's model configuration extension (GET …/config) is not supported: inferd has "
            f"no model configuration; GET /v2/models/{route.name} gives the model's inputs and "
            "outputs"
        )


def _no_loads(request: Request) -> NoReturn:
    raise Unsupported(_NO_LOADS)
