"""A deployment's name is what clients address; its replicas serve the model under the store
reference's name. Metadata and readiness through the gateway name the deployment, as the
gateway's own lists do (``GET /v1/models``, the repository index), so a name read back from
one answer can be sent again."""

from __future__ import annotations

from typing import Any

import httpx
import tritonclient.grpc.aio as triton

from inferd.control.gateway.grpc_gateway import GrpcGateway
from inferd.control.replicas.engine_metrics import EngineSeries
from inferd.control.replicas.topology import Replica, ReplicaState, VersionRoute

from .conftest import ReplicaProcess, deployment, run, started_gateway, topology, version


def test_metadata_and_readiness_name_the_deployment(
    replicas: dict[str, list[ReplicaProcess]],
) -> None:
    topo = topology(
        deployment(
            "scoring",
            version("v1", 100, *replicas["v1"]),
        )
    )

    async def scenario() -> dict[str, httpx.Response]:
        gateway = await started_gateway(topo)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.port}") as c:
                return {
                    "meta": await c.get("/v2/models/scoring"),
                    "meta_v1": await c.get("/v2/models/scoring/versions/v1"),
                    "kserve": await c.get("/v1/models/scoring"),
                    "missing": await c.get("/v2/models/fraud"),
                    "missing_v1": await c.get("/v1/models/fraud"),
                }
        finally:
            await gateway.stop(5)

    r = run(scenario)
    assert r["meta"].status_code == 200, r["meta"].text
    assert r["meta"].json()["name"] == "scoring"
    assert r["meta"].json()["inputs"]  # the rest of the replica's answer is kept
    assert r["meta_v1"].json()["name"] == "scoring"
    assert r["kserve"].status_code == 200
    assert r["kserve"].json() == {"name": "scoring", "ready": True}
    assert r["missing"].status_code == 404  # the replica's model name is no deployment
    # /v1/models/{model} is OpenAI's "retrieve model" too: its clients read only their shape.
    assert r["missing_v1"].status_code == 404
    error = r["missing_v1"].json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "'fraud'" in error["message"]


def test_grpc_metadata_names_the_deployment(replicas: dict[str, list[ReplicaProcess]]) -> None:
    topo = topology(deployment("scoring", version("v1", 100, *replicas["v1"])))

    async def scenario() -> dict[str, Any]:
        gateway = await started_gateway(topo)
        front = GrpcGateway(gateway, "127.0.0.1", 0)
        await front.start()
        front.update(topo)
        client = triton.InferenceServerClient(f"127.0.0.1:{front.port}")
        try:
            return {
                "meta": await client.get_model_metadata("scoring", as_json=True),
                "meta_v1": await client.get_model_metadata("scoring", "v1", as_json=True),
            }
        finally:
            await client.close()
            await front.stop(5)
            await gateway.stop(5)

    r = run(scenario)
    assert r["meta"]["name"] == "scoring"
    assert r["meta"]["inputs"][0]["name"] == "input"  # the rest is the replica's answer
    assert r["meta_v1"]["name"] == "scoring"


def test_openai_retrieve_of_an_engine_deployment_is_answered_by_the_gateway() -> None:
    """llama-server and vLLM have no ``/v1/models/{id}`` route: the gateway relayed it and
    ``client.models.retrieve("chat")`` got the engine's 404 "File Not Found", although
    ``/v1/models`` lists ``chat``. The gateway answers it, as ``inferd serve`` does."""
    series = EngineSeries("llama-server", "chat", "v1")

    def route(state: ReplicaState) -> VersionRoute:
        # A closed port: nothing may reach the engine for this answer.
        replica = Replica("chat-v1-1", "chat", "v1", "127.0.0.1", 9, state, engine=series)
        return VersionRoute("v1", "chat", "chat:v1", 100, (replica,))

    async def scenario(state: ReplicaState) -> httpx.Response:
        gateway = await started_gateway(topology(deployment("chat", route(state))))
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.port}") as c:
                return await c.get("/v1/models/chat")
        finally:
            await gateway.stop(5)

    ready = run(lambda: scenario("ready"))
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert (body["id"], body["object"], body["owned_by"]) == ("chat", "model", "inferd")
    assert (body["name"], body["ready"]) == ("chat", True)
    starting = run(lambda: scenario("starting"))
    assert starting.status_code == 503 and starting.json()["ready"] is False
