"""Triton's ``GET /v2/models/{m}[/versions/{v}]/config`` (tritonclient.http's
``get_model_config``) through the gateway: ``inferd serve``'s 501 (the configuration extension
is not supported, pointing to the deployment's metadata), not 404 "model 'm/config' not found"
for a deployment the gateway serves."""

from __future__ import annotations

import orjson

from .conftest import RawClient, ReplicaProcess, deployment, run, started_gateway, topology, version


def test_model_config_is_answered_as_the_replica_answers_it(
    replicas: dict[str, list[ReplicaProcess]],
) -> None:
    topo = topology(deployment("fraud-prod", version("v1", 100, *replicas["v1"])))
    paths = [
        "/v2/models/fraud-prod/config",
        "/v2/models/fraud-prod/versions/v1/config",
        "/v2/models/nope/config",
        "/v2/models/fraud-prod/versions/v9/config",
    ]

    async def scenario() -> list[tuple[int, str]]:
        gateway = await started_gateway(topo)
        client = RawClient(f"http://127.0.0.1:{gateway.port}")
        try:
            answers = []
            for path in paths:
                status, _, body = await client.request("GET", path)
                answers.append((status, str(orjson.loads(body)["error"])))
            return answers
        finally:
            await client.close()
            await gateway.stop(5)

    served, named, unknown, unknown_version = run(scenario)
    for status, error in (served, named):
        assert status == 501, error
        assert "configuration" in error
        assert "GET /v2/models/fraud-prod gives" in error  # the deployment, as clients name it
    assert unknown[0] == 404 and "'nope'" in unknown[1]
    assert unknown_version[0] == 404 and "v9" in unknown_version[1]
