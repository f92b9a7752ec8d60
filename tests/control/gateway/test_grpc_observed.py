"""gRPC calls through the gateway's front door are payload-logged and traced like REST: a
ModelInfer call's request and response land in the deployment's JSONL sink as the client's
protobuf messages, and the gateway's span continues the call's ``traceparent`` metadata."""

from __future__ import annotations

import base64
import secrets
from dataclasses import replace
from pathlib import Path

import orjson
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from inferd.config import TracingSettings
from inferd.control.gateway import Gateway
from inferd.control.gateway.grpc_gateway import GrpcGateway
from inferd.control.gateway.payloads.events import REQUEST_TYPE, RESPONSE_TYPE
from inferd.control.replicas.topology import Topology
from inferd.observe.tracing import Tracing
from inferd.protocols._generated import inference_pb2 as pb
from inferd.spec.observability import LoggingSpec
from otlp_collector import Collector

from .conftest import ReplicaProcess, deployment, topology, version
from .test_grpc_gateway import fraud_inputs, on_gateway

MODEL_INFER = "/inference.GRPCInferenceService/ModelInfer"


def _fraud(replicas: dict[str, list[ReplicaProcess]]) -> Topology:
    return topology(deployment("fraud", version("v1", 100, *replicas["v1"])))


def test_grpc_calls_are_payload_logged(
    replicas: dict[str, list[ReplicaProcess]], tmp_path: Path
) -> None:
    logging = LoggingSpec.model_validate({"sink": {"file": {"path": "fraud.jsonl"}}})
    base = _fraud(replicas)
    topo = Topology({"fraud": replace(base.deployments["fraud"], payload_logging=logging)}, 1)

    async def scenario(gateway: Gateway, front: GrpcGateway, client: object) -> None:
        answer = await client.infer("fraud", fraud_inputs(), request_id="call-1")  # type: ignore[attr-defined]
        assert answer.as_numpy("label") is not None

    on_gateway(topo, scenario, payload_dir=tmp_path)  # stopping delivers what is queued
    events = [orjson.loads(line) for line in (tmp_path / "fraud.jsonl").read_bytes().splitlines()]
    assert [e["type"] for e in events] == [REQUEST_TYPE, RESPONSE_TYPE]
    request, response = events
    assert request["id"] == response["id"]
    for event in events:
        assert event["endpoint"] == MODEL_INFER and event["version"] == "v1"
        assert event["datacontenttype"] == "application/x-protobuf"
    sent = pb.ModelInferRequest.FromString(base64.b64decode(request["data_base64"]))
    assert (sent.model_name, sent.id) == ("fraud", "call-1")  # as the client sent it
    got = pb.ModelInferResponse.FromString(base64.b64decode(response["data_base64"]))
    assert got.id == "call-1" and {o.name for o in got.outputs} == {"label", "probabilities"}
    assert response["status"] == 200


def test_a_grpc_call_continues_the_clients_trace(
    replicas: dict[str, list[ReplicaProcess]],
) -> None:
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    with Collector() as collector:
        tracing = Tracing(TracingSettings(endpoint=collector.url, service_name="inferd-gateway"))

        async def scenario(gateway: Gateway, front: GrpcGateway, client: object) -> None:
            await client.infer(  # type: ignore[attr-defined]
                "fraud", fraud_inputs(), headers={"traceparent": f"00-{trace_id}-{parent}-01"}
            )

        try:
            on_gateway(_fraud(replicas), scenario, tracing=tracing)
        finally:
            tracing.shutdown()  # exports the span
        spans = collector.trace(trace_id)
    (span,) = [s for s in spans if s.kind != Span.SPAN_KIND_CLIENT]
    (attempt,) = [s for s in spans if s.kind == Span.SPAN_KIND_CLIENT]  # its one try at a replica
    assert attempt.parent_id == span.span_id
    assert span.name == "inference.GRPCInferenceService/ModelInfer"
    assert (span.kind, span.parent_id, span.service) == (
        Span.SPAN_KIND_SERVER,
        parent,
        "inferd-gateway",
    )
    assert span.attributes["inferd.deployment"] == "fraud"
    assert span.attributes["rpc.method"] == "ModelInfer"
    assert span.attributes["http.response.status_code"] == 200
