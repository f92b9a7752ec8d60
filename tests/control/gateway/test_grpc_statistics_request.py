"""gRPC ``ModelStatistics`` naming a version but no model is refused through the gateway, as
``inferd serve`` refuses it (INVALID_ARGUMENT naming the version): it answered the statistics
of every deployment, the version silently dropped."""

from __future__ import annotations

import tritonclient.grpc.aio as triton

from inferd.control.gateway import Gateway
from inferd.control.gateway.grpc_gateway import GrpcGateway
from inferd.control.replicas.topology import Replica, VersionRoute

from .conftest import deployment, topology
from .test_grpc_gateway import on_gateway, outcome_of


def test_statistics_of_a_version_without_a_model_are_refused() -> None:
    replica = Replica("v1-0", "fraud", "v1", "127.0.0.1", 1, "ready")
    topo = topology(deployment("fraud", VersionRoute("v1", "fraud", "fraud:v1", 100, (replica,))))

    async def scenario(
        gateway: Gateway, front: GrpcGateway, c: triton.InferenceServerClient
    ) -> str:
        return await outcome_of(c.get_inference_statistics("", "v1"))

    assert on_gateway(topo, scenario) == (
        "INVALID_ARGUMENT: version 'v1' is given without a model name; name the model, or leave "
        "both empty for the statistics of every model"
    )
