"""The gateway in front of real replicas: protocol passthrough, errors, split, readiness."""

from __future__ import annotations

from collections import Counter

from .conftest import (
    FRAUD_BODY,
    ReplicaProcess,
    closed_loop,
    deployment,
    run,
    started_gateway,
    topology,
    version,
)


def test_split_is_accurate_over_10000_requests(replicas: dict[str, list[ReplicaProcess]]) -> None:
    topo = topology(
        deployment("fraud", version("v1", 90, *replicas["v1"]), version("v2", 10, *replicas["v2"]))
    )

    async def scenario() -> tuple[Counter[str], list[str]]:
        gateway = await started_gateway(topo)
        try:
            url = f"http://127.0.0.1:{gateway.port}/v2/models/fraud/infer"
            out = await closed_loop(url, FRAUD_BODY, concurrency=16, requests=10_000)
        finally:
            await gateway.stop(5)
        return Counter(out.versions), out.failed()

    versions, failed = run(scenario)
    assert failed == []
    assert sum(versions.values()) == 10_000
    assert 0.085 <= versions["v2"] / 10_000 <= 0.115, versions
