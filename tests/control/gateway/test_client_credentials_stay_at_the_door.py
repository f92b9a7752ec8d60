"""A client's credentials stop at the gateway: behind API keys (``inferd up`` with
``gateway.auth``) the gateway checks the client's ``Authorization`` and then forwards the
request to its keyless replicas without it (nor ``Proxy-Authorization``), over REST, the OpenAI
relay and gRPC. Fake replicas record what reached them."""

from __future__ import annotations

from pathlib import Path

import grpc
import httpx
import numpy as np
import tritonclient.grpc.aio as triton
from tritonclient.grpc import InferInput

from inferd.config import AuthSettings, LimitSettings
from inferd.control.gateway import Gateway
from inferd.control.gateway.access import secure_grpc
from inferd.control.gateway.grpc_gateway import GrpcGateway
from inferd.control.replicas.topology import Replica, VersionRoute
from inferd.protocols.access.frontdoor import FrontDoor
from inferd.protocols.access.keyfile import create_key

from .conftest import (
    deployment,
    fake_grpc_replica,
    recording_replica,
    run,
    topology,
)

_CHAT = b'{"id":"c1","object":"chat.completion","model":"fraud","choices":[]}'


async def _recording_grpc_replica(seen: list[dict[str, str]]) -> tuple[grpc.aio.Server, int]:
    """A gRPC replica whose ModelInfer answers an empty response, recording the metadata."""

    async def infer(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        seen.append({k: str(v) for k, v in context.invocation_metadata() or ()})
        return b""

    return await fake_grpc_replica(infer)


def test_the_clients_key_is_not_forwarded_to_replicas(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    _, token = create_key(keys, "ci")
    door = FrontDoor.from_settings(AuthSettings(keys_file=keys), None)
    heads: list[str] = []
    metadata: list[dict[str, str]] = []

    async def scenario() -> list[int]:
        rest = await recording_replica(heads, _CHAT)
        rpc, grpc_port = await _recording_grpc_replica(metadata)
        port = rest.sockets[0].getsockname()[1]
        replica = Replica("v1-0", "fraud", "v1", "127.0.0.1", port, "ready", grpc_port=grpc_port)
        topo = topology(
            deployment("fraud", VersionRoute("v1", "fraud", "fraud:v1", 100, (replica,)))
        )
        gateway = Gateway("127.0.0.1", 0, limits=LimitSettings())
        gateway.front_door = door
        await gateway.start()
        gateway.update(topo)
        front = GrpcGateway(gateway, "127.0.0.1", 0)
        secure_grpc(front, door)
        await front.start()
        front.update(topo)
        secrets = {"Authorization": f"Bearer {token}", "Proxy-Authorization": "Basic cHJveHk6cHc="}
        statuses = []
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.port}") as c:
                for path, body in (
                    ("/v2/models/fraud/infer", b'{"inputs":[]}'),
                    ("/v1/models/fraud:predict", b'{"instances":[]}'),
                    ("/v1/chat/completions", b'{"model":"fraud","messages":[]}'),
                ):
                    answer = await c.post(path, content=body, headers=secrets)
                    statuses.append(answer.status_code)
                statuses.append((await c.get("/v2/models/fraud", headers=secrets)).status_code)
            client = triton.InferenceServerClient(f"127.0.0.1:{front.port}")
            try:
                one = InferInput("x", [1], "FP32")
                one.set_data_from_numpy(np.zeros(1, dtype="float32"))
                await client.infer("fraud", [one], headers={"authorization": f"Bearer {token}"})
            finally:
                await client.close()
        finally:
            await front.stop(5)
            await gateway.stop(5)
            rest.close()
            await rpc.stop(0)
        return statuses

    statuses = run(scenario)
    assert statuses == [200, 200, 200, 200]
    # (the gateway's own scrapes of the replica's /metrics may be among them)
    assert len([h for h in heads if not h.startswith("get /metrics ")]) == 4
    for head in heads:
        assert "authorization" not in head, head  # Proxy-Authorization too
        assert str(token).lower() not in head
    assert len(metadata) == 1
    assert "authorization" not in metadata[0], metadata[0]
