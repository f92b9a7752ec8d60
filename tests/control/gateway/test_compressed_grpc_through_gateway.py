"""gRPC messages compressed by their client, through the gateway's gRPC front door: inflated
by the gateway with the model server's bound (not whole by grpc-core), so its replica is sent
the message itself; a message that inflates past ``max_body_bytes`` is RESOURCE_EXHAUSTED
naming the inflated limit, and never reaches the replica. A fake replica records what
reached it."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import tritonclient.grpc.aio as triton
from tritonclient.grpc import InferInput
from tritonclient.utils import InferenceServerException

from inferd.config import LimitSettings
from inferd.control.gateway import Gateway
from inferd.control.gateway.grpc_gateway import GrpcGateway
from inferd.control.replicas.topology import Replica, VersionRoute
from inferd.protocols._generated import inference_pb2 as pb

from .conftest import deployment, fake_grpc_replica, run, topology

#: Rows that compress (grpc sends a message that would not shrink uncompressed).
ROWS = np.tile(np.arange(16, dtype=np.float32), (64, 1))


@pytest.mark.parametrize("compression", ["gzip", "deflate"])
def test_the_gateway_inflates_a_compressed_message_within_its_limit(compression: str) -> None:
    seen: list[pb.ModelInferRequest] = []

    async def infer(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        seen.append(pb.ModelInferRequest.FromString(request))
        return pb.ModelInferResponse(model_name="fraud").SerializeToString()

    async def scenario() -> str:
        rpc, grpc_port = await fake_grpc_replica(infer)
        replica = Replica("v1-0", "fraud", "v1", "127.0.0.1", 1, "ready", grpc_port=grpc_port)
        topo = topology(
            deployment("fraud", VersionRoute("v1", "fraud", "fraud:v1", 100, (replica,)))
        )
        gateway = Gateway("127.0.0.1", 0, limits=LimitSettings(max_body_bytes=256 * 1024))
        await gateway.start()
        gateway.update(topo)
        front = GrpcGateway(gateway, "127.0.0.1", 0)
        await front.start()
        front.update(topo)
        client = triton.InferenceServerClient(f"127.0.0.1:{front.port}")
        try:
            x = InferInput("x", list(ROWS.shape), "FP32")
            x.set_data_from_numpy(ROWS)
            await client.infer("fraud", [x], compression_algorithm=compression)
            bomb = InferInput("x", [1024, 1024], "FP32")  # 4 MiB of zeros: a few KiB sent
            bomb.set_data_from_numpy(np.zeros((1024, 1024), dtype=np.float32))
            with pytest.raises(InferenceServerException) as raised:
                await client.infer("fraud", [bomb], compression_algorithm=compression)
            assert raised.value.status() == str(grpc.StatusCode.RESOURCE_EXHAUSTED)
            return str(raised.value.message())
        finally:
            await client.close()
            await front.stop(5)
            await gateway.stop(5)
            await rpc.stop(0)

    refusal = run(scenario)
    assert "once inflated" in refusal and "max_body_bytes" in refusal
    assert len(seen) == 1  # the bomb never reached the replica
    data = np.frombuffer(seen[0].raw_input_contents[0], dtype=np.float32).reshape(ROWS.shape)
    np.testing.assert_array_equal(data, ROWS)
