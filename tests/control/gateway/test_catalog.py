"""The repository index and statistics as clients of the gateway see them: one entry per
deployment and version (never the shadow), statistics summed over the version's replicas."""

from __future__ import annotations

import httpx
import pytest

from inferd.control.gateway.catalog import parse_statistics, repository_index, summed
from inferd.control.replicas.topology import Replica, ReplicaState, VersionRoute
from inferd.protocols.v2.documents import statistics_document
from inferd.serving.stats import (
    InferBatchStatistics,
    InferStatistics,
    ModelStatistics,
    StatisticDuration,
    VersionState,
)

from .conftest import (
    FRAUD_BODY,
    ReplicaProcess,
    deployment,
    run,
    started_gateway,
    topology,
    version,
)


def _replica(rid: str, state: ReplicaState, reason: str | None = None) -> Replica:
    return Replica(rid, "fraud", rid.rsplit("-", 1)[0], "127.0.0.1", 1, state, reason=reason)


def _version(name: str, *states: ReplicaState, reason: str | None = None) -> VersionRoute:
    replicas = tuple(_replica(f"{name}-{i}", s, reason) for i, s in enumerate(states))
    return VersionRoute(name, "fraud", f"fraud:{name}", 25, replicas)


def test_the_index_lists_addressable_versions_in_their_state() -> None:
    topo = topology(
        deployment(
            "fraud",
            _version("v1", "ready", "starting"),
            _version("v2", "starting", "failed"),
            _version("v3", "failed", reason="exit status 3: model.onnx is not an ONNX model"),
            _version("v4"),
            _version("shadow", "ready"),
            shadow="shadow",
        ),
        deployment("echo", _version("v1", "draining", "ready")),
    )
    rows = [(e.name, e.version, e.state, e.reason) for e in repository_index(topo)]
    assert rows == [
        ("fraud", "v1", VersionState.READY, ""),
        ("fraud", "v2", VersionState.LOADING, "replica starting"),
        ("fraud", "v3", VersionState.UNAVAILABLE,
         "replica failed: exit status 3: model.onnx is not an ONNX model"),
        ("fraud", "v4", VersionState.UNAVAILABLE, "no replica running"),
        ("echo", "v1", VersionState.READY, ""),
    ]  # fmt: skip
    ready = [(e.name, e.version) for e in repository_index(topo, ready_only=True)]
    assert ready == [("fraud", "v1"), ("echo", "v1")]


def _stats(
    inferences: int, runs: int, last: int, *batches: tuple[int, int, int]
) -> ModelStatistics:
    d = StatisticDuration
    return ModelStatistics(
        "fraud",
        "v1",
        last_inference=last,
        inference_count=inferences,
        execution_count=runs,
        inference_stats=InferStatistics(
            success=d(inferences, 1000 * inferences),
            fail=d(1, 7),
            queue=d(runs, 50 * runs),
            compute_infer=d(runs, 300 * runs),
        ),
        batch_stats=tuple(
            InferBatchStatistics(size, compute_infer=d(count, ns)) for size, count, ns in batches
        ),
    )


def test_statistics_sum_over_replicas_per_batch_size() -> None:
    a = _stats(10, 4, 1_700_000_000_000, (1, 2, 100), (4, 2, 900))
    b = _stats(6, 3, 1_700_000_000_500, (4, 1, 400), (8, 2, 1600))
    total = summed("fraud", "v2", [a, b])
    d = StatisticDuration
    assert total == ModelStatistics(
        "fraud",
        "v2",
        last_inference=1_700_000_000_500,
        inference_count=16,
        execution_count=7,
        inference_stats=InferStatistics(
            success=d(16, 16_000), fail=d(2, 14), queue=d(7, 350), compute_infer=d(7, 2100)
        ),
        batch_stats=(
            InferBatchStatistics(1, compute_infer=d(2, 100)),
            InferBatchStatistics(4, compute_infer=d(3, 1300)),
            InferBatchStatistics(8, compute_infer=d(2, 1600)),
        ),
    )
    assert summed("fraud", "v1", []) == ModelStatistics("fraud", "v1")


def test_a_replicas_statistics_document_reads_back_exactly() -> None:
    stats = [_stats(10, 4, 123, (1, 2, 100), (4, 2, 900)), _stats(0, 0, 0)]
    assert parse_statistics(statistics_document(stats)) == stats
    bad: object
    for bad in ({}, {"model_stats": {}}, {"model_stats": [{"inference_count": "7"}]}, []):
        with pytest.raises(ValueError):
            parse_statistics(bad)


def test_rest_index_and_statistics_through_the_gateway(
    replicas: dict[str, list[ReplicaProcess]],
) -> None:
    """Statistics of a version equal the sum of what its replicas report themselves."""
    topo = topology(
        deployment(
            "fraud",
            version("v1", 100, *replicas["v1"]),
            version("v2", 0, *replicas["v2"]),
            version("shadow", 0, *replicas["v2"]),
            shadow="shadow",
        )
    )

    async def scenario() -> tuple[list[httpx.Response], dict[str, httpx.Response]]:
        gateway = await started_gateway(topo)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.port}") as c:
                for _ in range(12):
                    await c.post("/v2/models/fraud/versions/v1/infer", json=FRAUD_BODY)
                direct = []
                for server in replicas["v1"]:
                    async with httpx.AsyncClient(base_url=server.url) as replica:
                        direct.append(await replica.get("/v2/models/fraud/stats"))
                return direct, {
                    "v1": await c.get("/v2/models/fraud/versions/v1/stats"),
                    "fraud": await c.get("/v2/models/fraud/stats"),
                    "all": await c.get("/v2/models/stats"),
                    "index": await c.post("/v2/repository/index"),
                    "ready": await c.post("/v2/repository/index", json={"ready": True}),
                    "bad_ready": await c.post("/v2/repository/index", json={"ready": "yes"}),
                    "shadow": await c.get("/v2/models/fraud/versions/shadow/stats"),
                    "unknown": await c.get("/v2/models/nope/stats"),
                    "load": await c.post("/v2/repository/models/fraud/load"),
                }
        finally:
            await gateway.stop(5)

    direct, r = run(scenario)
    (stats,) = parse_statistics(r["v1"].json())
    assert stats == summed("fraud", "v1", [parse_statistics(d.json())[0] for d in direct])
    assert stats.inference_count >= 12 and stats.execution_count >= 1
    assert [(s["name"], s["version"]) for s in r["fraud"].json()["model_stats"]] == [
        ("fraud", "v1"),
        ("fraud", "v2"),
    ]
    assert r["all"].json() == r["fraud"].json()
    index = [(e["name"], e["version"], e["state"]) for e in r["index"].json()]
    assert index == [("fraud", "v1", "READY"), ("fraud", "v2", "READY")]
    assert r["ready"].json() == r["index"].json()
    assert r["bad_ready"].status_code == 400
    assert r["shadow"].status_code == 404
    assert r["unknown"].status_code == 404
    assert r["load"].status_code == 501
    assert "inferd apply" in r["load"].json()["error"]
