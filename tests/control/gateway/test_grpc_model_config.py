"""Triton's ``ModelConfig`` through the gateway's gRPC port (tritonclient's
``get_model_config``): forwarded to a replica as ``ModelMetadata`` is, so the client gets what
``inferd serve`` says (UNIMPLEMENTED, pointing to ModelMetadata) and NOT_FOUND for a deployment
or version the gateway lacks, not grpc's bare "Method not found!"."""

from __future__ import annotations

import tritonclient.grpc.aio as triton

from inferd.control.gateway import Gateway
from inferd.control.gateway.grpc_gateway import GrpcGateway

from .conftest import ReplicaProcess, deployment, topology, version
from .test_grpc_gateway import on_gateway, outcome_of


def test_model_config_is_answered_as_the_replica_answers_it(
    replicas: dict[str, list[ReplicaProcess]],
) -> None:
    topo = topology(deployment("fraud-prod", version("v1", 100, *replicas["v1"])))

    async def scenario(
        gateway: Gateway, front: GrpcGateway, c: triton.InferenceServerClient
    ) -> list[str]:
        return [
            await outcome_of(c.get_model_config("fraud-prod")),
            await outcome_of(c.get_model_config("fraud-prod", "v1")),
            await outcome_of(c.get_model_config("nope")),
            await outcome_of(c.get_model_config("fraud-prod", "v9")),
        ]

    served, named, unknown, unknown_version = on_gateway(topo, scenario)
    for answer in (served, named):
        assert answer.startswith("UNIMPLEMENTED: "), answer
        assert "ModelConfig" in answer and "ModelMetadata" in answer
    assert unknown.startswith("NOT_FOUND: ") and "nope" in unknown
    assert unknown_version.startswith("NOT_FOUND: ") and "v9" in unknown_version
