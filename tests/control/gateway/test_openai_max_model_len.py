"""vLLM's ``max_model_len`` on the gateway's ``GET /v1/models``, which clients read to size
prompts: each language-model deployment carries the one its replica lists (an engine's, here a
vLLM-like listing); an adapter listed without it (vLLM lists a LoRA module so) has its base's
from the same listing; a deployment never seen with a ready replica has null."""

from __future__ import annotations

import httpx
import orjson

from inferd.control.replicas.topology import Replica, ReplicaState, VersionRoute

from .conftest import deployment, run, started_gateway, topology
from .test_tracing_tries_and_shadows import FakeReplica

#: What vLLM serving base model ``base`` and LoRA module ``support`` lists.
VLLM_MODELS = orjson.dumps({"object": "list", "data": [
    {"id": "base", "object": "model", "created": 1, "owned_by": "vllm", "root": "/models/base",
     "parent": None, "max_model_len": 2048},
    {"id": "support", "object": "model", "created": 1, "owned_by": "vllm",
     "root": "/adapters/support", "parent": "base"},
]})  # fmt: skip


def _route(model: str, port: int, state: ReplicaState = "ready") -> VersionRoute:
    replica = Replica(f"{model}-0", model, "v1", "127.0.0.1", port, state)
    return VersionRoute("v1", model, f"{model}:v1", 100, (replica,))


def test_each_deployment_lists_its_max_model_len() -> None:
    engine = FakeReplica(200, VLLM_MODELS)

    async def scenario() -> httpx.Response:
        port = await engine.start()
        topo = topology(
            deployment("chat", _route("base", port)),
            deployment("helper", _route("support", port)),
            deployment("later", _route("later", 9, "starting")),  # never seen ready
        )
        gateway = await started_gateway(topo)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.port}") as c:
                return await c.get("/v1/models")
        finally:
            await gateway.stop(5)
            engine.close()

    answer = run(scenario)
    assert answer.status_code == 200, answer.text
    listed = {m["id"]: (m["parent"], m["max_model_len"]) for m in answer.json()["data"]}
    assert listed == {"chat": (None, 2048), "helper": ("base", 2048), "later": (None, None)}
