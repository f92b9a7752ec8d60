"""A shadow serving its primary's model tag stays apart from it in the gateway's ``/metrics``:
the servers' ``version`` is the tag's (both ``v1``), so each replica's series also carry
``inferd_version``, the spec's version name the replica serves."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

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


def test_a_shadow_of_the_same_tag_shows_apart_from_its_primary(
    replicas: dict[str, list[ReplicaProcess]],
) -> None:
    primary, mirror = replicas["v1"]  # two servers of fraud:v1
    topo = topology(
        deployment(
            "fraud",
            version("v1", 100, primary),
            version("v1-batched", 0, mirror),
            shadow="v1-batched",
        )
    )

    async def scenario() -> str:
        gateway = await started_gateway(topo)
        base = f"http://127.0.0.1:{gateway.port}"
        try:
            await closed_loop(
                f"{base}/v2/models/fraud/infer", FRAUD_BODY, concurrency=2, requests=20
            )
            async with httpx.AsyncClient() as client:
                return (await client.get(f"{base}/metrics")).text
        finally:
            await gateway.stop(5)

    text = run(scenario)
    served = {
        (s.labels["replica"], s.labels["inferd_version"])
        for family in text_string_to_metric_families(text)
        if family.name == "inferd_requests"
        for s in family.samples
        if s.name == "inferd_requests_total" and s.labels["version"] == "v1"
    }
    assert served == {("v1-0", "v1"), ("v1-batched-0", "v1-batched")}
    # The gateway's own process belongs to no version.
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.labels.get("replica") == "gateway":
                assert "inferd_version" not in s.labels
