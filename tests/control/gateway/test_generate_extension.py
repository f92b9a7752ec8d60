"""The OIP generate extension, which the gateway does not relay, is answered 501 naming OpenAI's
routes that do (docs/gateway.md), and 404 for an unknown deployment. It was 405 "method POST not
allowed", which reads as a typo in the client's method."""

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


def test_generate_is_501_naming_openais_routes_and_404_for_an_unknown_deployment(
    replicas: dict[str, list[ReplicaProcess]],
) -> None:
    topo = topology(deployment("fraud", version("v1", 100, *replicas["v1"])))
    paths = [
        "/v2/models/fraud/generate",
        "/v2/models/fraud/generate_stream",
        "/v2/models/fraud/versions/v1/generate",
        "/v2/models/nope/generate",
    ]

    async def scenario() -> list[tuple[int, dict[str, object]]]:
        gateway = await started_gateway(topo)
        client = RawClient(f"http://127.0.0.1:{gateway.port}")
        try:
            answers = []
            for path in paths:
                status, _, body = await client.request("POST", path, b'{"text_input": "hi"}')
                answers.append((status, orjson.loads(body)))
            return answers
        finally:
            await client.close()
            await gateway.stop(5)

    *known, (unknown, missing) = run(scenario)
    for status, body in known:
        assert status == 501, body
        assert "/v1/chat/completions" in str(body["error"])
        assert "'fraud'" in str(body["error"])
    assert unknown == 404
    assert "nope" in str(missing["error"])
