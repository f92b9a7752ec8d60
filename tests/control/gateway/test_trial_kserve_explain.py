"""KServe v1 ``:explain`` through the gateway answers as ``inferd serve`` does (docs/api.md):
501 naming the routes that answer, 404 for an unknown deployment. It was 405 "method POST not
allowed", the route ``GET /v1/models/{model}`` having taken ``which:explain`` for a name."""

from __future__ import annotations

import orjson

from .conftest import (
    RawClient,
    ReplicaProcess,
    deployment,
    run,
    started_gateway,
    topology,
    version,
)


def test_explain_is_501_naming_predict_and_404_for_an_unknown_deployment(
    replicas: dict[str, list[ReplicaProcess]],
) -> None:
    topo = topology(deployment("fraud", version("v1", 100, *replicas["v1"])))

    async def scenario() -> list[tuple[int, dict[str, object]]]:
        gateway = await started_gateway(topo)
        client = RawClient(f"http://127.0.0.1:{gateway.port}")
        try:
            answers = []
            for name in ("fraud", "nope"):
                status, _, body = await client.request(
                    "POST", f"/v1/models/{name}:explain", b'{"instances": [[0]]}'
                )
                answers.append((status, orjson.loads(body)))
            return answers
        finally:
            await client.close()
            await gateway.stop(5)

    (status, body), (unknown, _) = run(scenario)
    assert status == 501
    assert "/v1/models/fraud:predict" in str(body["error"])
    assert unknown == 404
