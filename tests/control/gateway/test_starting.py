"""A gateway whose ``inferd up`` has published no topology yet (its spec's replicas still
starting) answered 404 "model not found" for every deployment in the spec, for about 6 s; a
client does not retry a 404. Until the first topology it is 503 + Retry-After, on every route
that names a deployment; after it, an unknown name is a 404 as before."""

from __future__ import annotations

import asyncio

import httpx

from inferd.config import LimitSettings
from inferd.control.gateway import Gateway

from .conftest import FRAUD_BODY, run, topology


def test_before_the_first_topology_a_named_deployment_is_unavailable_not_missing() -> None:
    async def scenario() -> list[httpx.Response]:
        gateway = Gateway("127.0.0.1", 0, limits=LimitSettings())
        await gateway.start()
        base = f"http://127.0.0.1:{gateway.port}"
        try:
            async with httpx.AsyncClient(base_url=base) as client:
                starting = [
                    await client.post("/v2/models/fraud/infer", json=FRAUD_BODY),
                    await client.get("/v2/models/fraud"),
                    await client.post("/v1/chat/completions", json={"model": "fraud"}),
                ]
                gateway.update(topology())
                await asyncio.sleep(0)
                return [*starting, await client.post("/v2/models/fraud/infer", json=FRAUD_BODY)]
        finally:
            await gateway.stop(5)

    *starting, published = run(scenario)
    assert [r.status_code for r in starting] == [503, 503, 503]
    assert all(r.headers["retry-after"] == "1" for r in starting)
    assert "the gateway is starting" in starting[0].json()["error"]
    assert published.status_code == 404
