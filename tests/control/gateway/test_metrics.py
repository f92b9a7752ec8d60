"""The gateway's /metrics: its own series and every ready replica's, valid for promtool."""

from __future__ import annotations

import subprocess

import httpx
from prometheus_client.parser import text_string_to_metric_families

from .conftest import (
    FRAUD_BODY,
    ReplicaProcess,
    closed_loop,
    deployment,
    run,
    sample,
    started_gateway,
    topology,
    version,
)


def test_aggregated_metrics_pass_promtool(replicas: dict[str, list[ReplicaProcess]]) -> None:
    topo = topology(
        deployment(
            "fraud",
            version("v1", 90, *replicas["v1"]),
            version("v2", 10, *replicas["v2"]),
            shadow="v2",
        ),
        deployment("echo", version("e1", 100, *replicas["echo"], model="echo", deployment="echo")),
    )

    async def scenario() -> str:
        gateway = await started_gateway(topo)
        base = f"http://127.0.0.1:{gateway.port}"
        try:
            await closed_loop(
                f"{base}/v2/models/fraud/infer", FRAUD_BODY, concurrency=2, requests=50
            )
            async with httpx.AsyncClient() as client:
                response = await client.get(f"{base}/metrics")
            assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
            return response.text
        finally:
            await gateway.stop(5)

    text = run(scenario)
    check = subprocess.run(
        ["promtool", "check", "metrics"],
        input=text,
        capture_output=True,
        check=False,
        text=True,
        timeout=30,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout + check.stderr == ""
    # One HELP and one TYPE line per family, however many replicas report it.
    helps = [line for line in text.splitlines() if line.startswith("# HELP ")]
    assert len(helps) == len(set(helps))
    # Every ready replica's series, labelled with the replica and its deployment.
    replica_ids = {
        s.labels["replica"]
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if "replica" in s.labels
    }
    # ... and the gateway's own process (inferd up's CPU and memory), under replica="gateway".
    assert replica_ids == {"v1-0", "v1-1", "v2-0", "e1-0", "gateway"}
    assert sample(text, "process_resident_memory_bytes", replica="gateway") > 0
    assert sample(text, "process_cpu_seconds_total", replica="gateway") > 0
    served = sum(
        sample(text, "inferd_requests_total", model="fraud", version="v1", outcome="success",
               deployment="fraud", replica=rid, inferd_version="v1")
        for rid in ("v1-0", "v1-1")
    )  # fmt: skip
    gateway_v1 = sample(
        text, "inferd_gateway_requests_total", deployment="fraud", version="v1", outcome="success"
    )
    # The replicas are shared with other tests, so they may have served more.
    assert served >= gateway_v1 > 0
    assert sample(text, "inferd_gateway_topology_generation") == 1
    assert sample(text, "inferd_gateway_shadow_requests_total", deployment="fraud", primary="v1",
                  shadow="v2", outcome="compared") > 0  # fmt: skip
