"""A deployment's metadata through the gateway lists the versions a client may name
(``versions`` of OIP's model metadata: "the versions that may be explicitly requested"): the
deployment's version names, never the shadow, or the one asked for (as Triton answers).
It listed the replica's store tag (``["v1"]`` for a version named ``stable``), which the gateway
answers 404, so a version read back could not be sent again."""

from __future__ import annotations

from typing import Any

import httpx
import tritonclient.grpc.aio as triton

from inferd.control.gateway.grpc_gateway import GrpcGateway

from .conftest import (
    FRAUD_BODY,
    ReplicaProcess,
    deployment,
    run,
    started_gateway,
    topology,
    version,
)


def test_metadata_lists_the_deployment_versions_a_client_may_name(
    replicas: dict[str, list[ReplicaProcess]],
) -> None:
    topo = topology(
        deployment(
            "scoring",
            version("stable", 100, *replicas["v1"], deployment="scoring"),
            version("canary", 0, *replicas["v2"], deployment="scoring"),
            version("mirror", 0, *replicas["v2"], deployment="scoring"),
            shadow="mirror",
        )
    )

    async def scenario() -> dict[str, Any]:
        gateway = await started_gateway(topo)
        front = GrpcGateway(gateway, "127.0.0.1", 0)
        await front.start()
        front.update(topo)
        client = triton.InferenceServerClient(f"127.0.0.1:{front.port}")
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.port}") as c:
                meta = (await c.get("/v2/models/scoring")).json()
                return {
                    "meta": meta,
                    "meta_canary": (await c.get("/v2/models/scoring/versions/canary")).json(),
                    "sent_again": [
                        (
                            await c.post(f"/v2/models/scoring/versions/{v}/infer", json=FRAUD_BODY)
                        ).status_code
                        for v in meta["versions"]
                    ],
                    "grpc": await client.get_model_metadata("scoring", as_json=True),
                    "grpc_canary": await client.get_model_metadata(
                        "scoring", "canary", as_json=True
                    ),
                }
        finally:
            await client.close()
            await front.stop(5)
            await gateway.stop(5)

    r = run(scenario)
    for answer in (r["meta"], r["grpc"]):
        assert answer["versions"] == ["stable", "canary"]
    for answer in (r["meta_canary"], r["grpc_canary"]):
        assert answer["versions"] == ["canary"]  # as Triton answers a version's metadata
    for answer in (r["meta"], r["meta_canary"], r["grpc"], r["grpc_canary"]):
        assert answer["name"] == "scoring"
        assert answer["inputs"][0]["name"] == "input"  # the rest is the replica's answer
    assert r["sent_again"] == [200, 200]
