"""gRPC ``ModelReady`` through the gateway answers as ``inferd serve`` (and Triton) answer it:
``ready: false`` for a model the server does not serve, never an error. tritonclient's
``is_model_ready("nope")`` returns False from ``inferd serve``; through the gateway it raised
NOT_FOUND, so a client polling readiness broke when it moved behind ``inferd up``."""

from __future__ import annotations

import tritonclient.grpc.aio as triton

from inferd.control.gateway import Gateway
from inferd.control.gateway.grpc_gateway import GrpcGateway

from .conftest import ReplicaProcess
from .test_grpc_gateway import fraud_with_shadow, on_gateway, outcome_of


def test_model_ready_of_an_unknown_model_is_false_as_inferd_serve_answers(
    replicas: dict[str, list[ReplicaProcess]],
) -> None:
    topo = fraud_with_shadow(replicas)
    replica = f"127.0.0.1:{replicas['v1'][0].grpc_port}"

    async def ask(client: triton.InferenceServerClient) -> dict[str, object]:
        return {
            "fraud": await client.is_model_ready("fraud"),
            "nope": await client.is_model_ready("nope"),
            "unknown version": await client.is_model_ready("fraud", "v9"),
        }

    async def scenario(
        gateway: Gateway, front: GrpcGateway, c: triton.InferenceServerClient
    ) -> tuple[dict[str, object], dict[str, object], bool, str]:
        direct = triton.InferenceServerClient(replica)
        try:
            served = await ask(direct)
        finally:
            await direct.close()
        shadow = await c.is_model_ready("fraud", "shadow")  # cannot be addressed: not ready
        meta = await outcome_of(c.get_model_metadata("nope"))
        return served, await ask(c), shadow, meta

    served, through_gateway, shadow, meta = on_gateway(topo, scenario)
    assert served == {"fraud": True, "nope": False, "unknown version": False}
    assert through_gateway == served
    assert shadow is False
    assert meta.startswith("NOT_FOUND: ") and "nope" in meta  # metadata still names the error
