"""The gateway's access log (``gateway.access_log``): one line per request on its REST port and
its gRPC port, in front of real replicas; the spec's setting reaches the replicas' settings."""

from __future__ import annotations

import httpx
import numpy as np
import orjson
import tritonclient.grpc.aio as triton
from tritonclient.grpc import InferInput

from inferd.config import ServerSettings
from inferd.control.gateway.grpc_gateway import GrpcGateway
from inferd.control.replicas.launch import server_settings
from inferd.spec.loading import parse_spec
from protocols.http.test_access_log import captured

from .conftest import (
    FRAUD_BODY,
    FRAUD_ROW,
    ReplicaProcess,
    deployment,
    run,
    started_gateway,
    topology,
    version,
)

SECRET = "Bearer sk-gateway-secret"
SPEC = """\
apiVersion: inferd.dev/v1
kind: Stack
gateway: {access_log: json}
deployments:
  - name: fraud
    versions:
      - {name: v1, model: fraud:v1}
"""


def test_rest_and_grpc_requests_through_the_gateway_are_logged(
    replicas: dict[str, list[ReplicaProcess]],
) -> None:
    topo = topology(deployment("fraud", version("v1", 100, replicas["v1"][0])))

    async def scenario() -> None:
        gateway = await started_gateway(topo, access_log="json")
        front = GrpcGateway(gateway, "127.0.0.1", 0)
        await front.start()
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.port}") as client:
                headers = {"authorization": SECRET}
                answer = await client.post(
                    "/v2/models/fraud/infer", json=FRAUD_BODY, headers=headers
                )
                assert answer.status_code == 200
                assert (await client.get("/v2/models/nope")).status_code == 404
            grpc_client = triton.InferenceServerClient(f"127.0.0.1:{front.port}")
            tensor = InferInput("input", [1, 8], "FP32")
            tensor.set_data_from_numpy(np.array([FRAUD_ROW], dtype=np.float32))
            await grpc_client.infer("fraud", [tensor], headers={"authorization": SECRET})
            await grpc_client.close()
        finally:
            await front.stop(0)
            await gateway.stop(0)

    with captured() as lines:
        run(scenario)
    entries = [orjson.loads(line) for line in lines.wait(3)]
    seen = [(e["method"], e["path"], e["protocol"], e["status"]) for e in entries]
    assert seen == [
        ("POST", "/v2/models/fraud/infer", "HTTP/1.1", 200),
        ("GET", "/v2/models/nope", "HTTP/1.1", 404),
        ("POST", "/inference.GRPCInferenceService/ModelInfer", "gRPC", "OK"),
    ]
    assert all(e["bytes"] > 0 and e["client"].startswith("127.0.0.1:") for e in entries)
    assert "sk-gateway-secret" not in "".join(lines.lines)


def test_the_spec_setting_reaches_the_replicas() -> None:
    spec = parse_spec(SPEC, "inferd.yaml")
    assert spec.gateway.access_log == "json"
    (fraud,) = spec.deployments
    document = server_settings(fraud, 30.0, access_log=spec.gateway.access_log)
    assert ServerSettings.model_validate(document).access_log == "json"
    assert "access_log" not in server_settings(fraud, 30.0)  # off: replicas log none either
