"""An OpenAI request naming no deployment of the gateway gets a 404 that says what ``model``
names here: a deployment (``GET /v1/models``), never ``deployment:version`` (its traffic chooses
the version), without listing the deployments (a key may not be allowed to know them)."""

from __future__ import annotations

import httpx
import pytest

from inferd.control.replicas.topology import VersionRoute

from .conftest import deployment, run, started_gateway, topology


@pytest.mark.parametrize(
    ("model", "said"),
    [
        ("llm", "model 'llm' not found; a request's model names a deployment (GET /v1/models)"),
        ("support-bot:support", "model 'support-bot:support' not found; the gateway takes a "
         "deployment's name ('support-bot'), and its traffic (weights, header routes, sticky "
         "header) chooses the version"),
        ("ghost:v1", "model 'ghost:v1' not found; a request's model names a deployment "
         "(GET /v1/models)"),
    ],
)  # fmt: skip
def test_an_unknown_model_says_what_a_model_names(model: str, said: str) -> None:
    async def scenario() -> httpx.Response:
        route = deployment("support-bot", VersionRoute("support", "llm", "llm:v1", 100))
        gateway = await started_gateway(topology(route))
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                return await client.post(
                    f"http://127.0.0.1:{gateway.port}/v1/chat/completions",
                    json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
                )
        finally:
            await gateway.stop(5)

    answer = run(scenario)
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert error["code"] == "model_not_found" and error["param"] == "model"
    assert error["message"] == said
