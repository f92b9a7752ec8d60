"""vLLM's ``GET /health`` on the gateway, which load balancers and vLLM's clients probe: 200 with
an empty body while the gateway is ready (every deployment has a ready replica), else 503 (a
deployment still starting, a drain begun); no API key needed, as for ``/v2/health/*``."""

from __future__ import annotations

from pathlib import Path

import httpx

from inferd.config import AuthSettings, LimitSettings
from inferd.control.gateway import Gateway
from inferd.control.replicas.topology import Replica, ReplicaState, VersionRoute
from inferd.protocols.access.frontdoor import FrontDoor
from inferd.protocols.access.keyfile import create_key

from .conftest import deployment, run, topology


def _route(name: str, state: ReplicaState) -> VersionRoute:
    # A closed port: /health asks nothing of the replicas.
    replica = Replica(f"{name}-0", name, "v1", "127.0.0.1", 9, state)
    return VersionRoute("v1", name, f"{name}:v1", 100, (replica,))


def test_health_follows_readiness_with_no_body_and_no_key(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    create_key(keys, "ci")
    ready = topology(deployment("llm", _route("llm", "ready")))
    starting = topology(
        deployment("llm", _route("llm", "ready")), deployment("chat", _route("chat", "starting"))
    )

    async def scenario() -> list[httpx.Response]:
        gateway = Gateway("127.0.0.1", 0, limits=LimitSettings())
        gateway.front_door = FrontDoor.from_settings(AuthSettings(keys_file=keys), None)
        await gateway.start()
        answers = []
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.port}") as c:
                for topo in (ready, starting, ready):
                    gateway.update(topo)
                    answers.append(await c.get("/health"))
                gateway.begin_drain()
                answers.append(await c.get("/health"))
                answers.append(await c.get("/v1/models"))  # the same door asks others for a key
        finally:
            await gateway.stop(5)
        return answers

    *health, models = run(scenario)
    assert [(a.status_code, a.content) for a in health] == [
        (200, b""), (503, b""), (200, b""), (503, b"")
    ]  # fmt: skip
    assert models.status_code == 401
