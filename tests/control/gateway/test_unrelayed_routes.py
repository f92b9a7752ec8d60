"""Routes ``inferd serve`` answers and the gateway does not relay are answered as ``inferd serve``
answers what it lacks: 501 naming the routes that do, 404 for an unknown deployment.

- KServe v1 ``:explain`` (docs/api.md) was 405 "method POST not allowed", the route
  ``GET /v1/models/{model}`` having taken ``which:explain`` for a name.
- The OIP generate extension (docs/gateway.md) was 405 too, which reads as a typo in the
  client's method; OpenAI's routes relay language models.
"""

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


def _answers(
    replicas: dict[str, list[ReplicaProcess]], paths: list[str], body: bytes
) -> list[tuple[int, dict[str, object]]]:
    """The gateway's answers to a POST of ``body`` to each of ``paths``, deployment ``fraud``."""
    topo = topology(deployment("fraud", version("v1", 100, *replicas["v1"])))

    async def scenario() -> list[tuple[int, dict[str, object]]]:
        gateway = await started_gateway(topo)
        client = RawClient(f"http://127.0.0.1:{gateway.port}")
        try:
            answers = []
            for path in paths:
                status, _, answer = await client.request("POST", path, body)
                answers.append((status, orjson.loads(answer)))
            return answers
        finally:
            await client.close()
            await gateway.stop(5)

    return run(scenario)


def test_explain_is_501_naming_predict_and_404_for_an_unknown_deployment(
    replicas: dict[str, list[ReplicaProcess]],
) -> None:
    paths = ["/v1/models/fraud:explain", "/v1/models/nope:explain"]
    (status, body), (unknown, _) = _answers(replicas, paths, b'{"instances": [[0]]}')
    assert status == 501
    assert "/v1/models/fraud:predict" in str(body["error"])
    assert unknown == 404


def test_generate_is_501_naming_openais_routes_and_404_for_an_unknown_deployment(
    replicas: dict[str, list[ReplicaProcess]],
) -> None:
    paths = [
        "/v2/models/fraud/generate",
        "/v2/models/fraud/generate_stream",
        "/v2/models/fraud/versions/v1/generate",
        "/v2/models/nope/generate",
    ]
    *known, (unknown, missing) = _answers(replicas, paths, b'{"text_input": "hi"}')
    for status, body in known:
        assert status == 501, body
        assert "/v1/chat/completions" in str(body["error"])
        assert "'fraud'" in str(body["error"])
    assert unknown == 404
    assert "nope" in str(missing["error"])
