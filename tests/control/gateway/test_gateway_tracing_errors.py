"""The gateway's span of a request that failed says how and why, as the replica's span does.

An error the replica answered (a 400 for a tensor of the wrong shape, a 503 from a replica that
sheds) left the gateway's span unset (a 4xx) or with "the replica answered an error" (a 5xx),
and a gRPC call refused INVALID_ARGUMENT was unset too: the span an SRE opens first did not say
what went wrong. A request whose client went away was recorded as a 500 "CancelledError", where
the gateway's metrics count it 499. Now each carries the status the client got and its error
message (never the request's body).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import numpy as np
import pytest
from tritonclient.grpc.aio import InferenceServerClient

from inferd.config import TracingSettings
from inferd.control.gateway import Gateway
from inferd.control.gateway.grpc_gateway import GrpcGateway
from inferd.control.replicas.topology import Topology
from inferd.observe.tracing import Tracing
from otlp_collector import CollectedSpan, Collector

from .conftest import FRAUD_BODY, ReplicaProcess, deployment, run, started_gateway, topology
from .conftest import version as fraud_version
from .test_failures import fraud_version as version_at
from .test_failures import shedding_server
from .test_grpc_gateway import fraud_inputs, on_gateway

ERROR = 2
SERVER = 2
BAD_SHAPE = {"inputs": [{"name": "input", "shape": [1, 7], "datatype": "FP32", "data": [0] * 7}]}


def _traceparent() -> tuple[str, dict[str, str]]:
    trace_id = secrets.token_hex(16)
    return trace_id, {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}


def _gateway_span(collector: Collector, tracing: Tracing, trace_id: str) -> CollectedSpan:
    """The gateway's span of ``trace_id``, once it has ended (flushed until it arrives)."""
    deadline = time.monotonic() + 30
    while True:
        tracing.flush()
        # The gateway's SERVER span (kind 2), not its tries' CLIENT spans.
        spans = [s for s in collector.trace(trace_id) if s.kind == SERVER]
        if spans:
            assert len(spans) == 1, spans
            return spans[0]
        assert time.monotonic() < deadline, "the gateway's span never arrived"
        time.sleep(0.05)


def _traced(
    collector: Collector,
    topo: Topology,
    scenario: Callable[[Gateway, GrpcGateway, InferenceServerClient], Awaitable[Any]],
) -> Tracing:
    tracing = Tracing(TracingSettings(endpoint=collector.url, service_name="inferd-gateway"))
    on_gateway(topo, scenario, tracing=tracing)  # type: ignore[arg-type]
    return tracing


def test_an_error_the_replica_answered_fails_the_gateways_span(
    replicas: dict[str, list[ReplicaProcess]],
) -> None:
    trace_id, headers = _traceparent()
    answer: dict[str, Any] = {}

    async def scenario(gateway: Gateway, front: GrpcGateway, client: object) -> None:
        async with httpx.AsyncClient() as http:
            url = f"http://127.0.0.1:{gateway.port}/v2/models/fraud/infer"
            got = await http.post(url, json=BAD_SHAPE, headers=headers)
        answer.update(status=got.status_code, body=got.json())

    with Collector() as collector:
        topo = topology(deployment("fraud", fraud_version("v1", 100, *replicas["v1"])))
        tracing = _traced(collector, topo, scenario)
        try:
            span = _gateway_span(collector, tracing, trace_id)
        finally:
            tracing.shutdown()
    assert answer["status"] == 400
    assert span.attributes["http.response.status_code"] == 400
    assert (span.status, span.status_message) == (ERROR, answer["body"]["error"])
    assert "expected shape" in span.status_message


def test_a_grpc_call_the_replica_refused_fails_the_gateways_span(
    replicas: dict[str, list[ReplicaProcess]],
) -> None:
    trace_id, headers = _traceparent()
    refused: list[str] = []

    async def scenario(gateway: Gateway, front: GrpcGateway, client: Any) -> None:
        rows = np.zeros((1, 7), dtype=np.float32)
        try:
            await client.infer("fraud", fraud_inputs(rows), headers=headers)
        except Exception as exc:  # tritonclient's InferenceServerException
            refused.append(exc.message())  # type: ignore[attr-defined]

    with Collector() as collector:
        topo = topology(deployment("fraud", fraud_version("v1", 100, *replicas["v1"])))
        tracing = _traced(collector, topo, scenario)
        try:
            span = _gateway_span(collector, tracing, trace_id)
        finally:
            tracing.shutdown()
    assert len(refused) == 1 and "expected shape" in refused[0]
    assert span.attributes["http.response.status_code"] == 400
    assert span.attributes["rpc.grpc.status_code"] == 3  # INVALID_ARGUMENT
    assert (span.status, span.status_message) == (ERROR, refused[0])


def test_a_shed_request_fails_the_gateways_span_with_the_reason() -> None:
    trace_id, headers = _traceparent()

    async def scenario(tracing: Tracing) -> httpx.Response:
        shedding = await shedding_server()
        port = shedding.sockets[0].getsockname()[1]
        topo = topology(deployment("fraud", version_at("v1", port)))
        gateway = await started_gateway(topo, tracing=tracing)
        try:
            async with httpx.AsyncClient() as http:
                url = f"http://127.0.0.1:{gateway.port}/v2/models/fraud/infer"
                return await http.post(url, json=FRAUD_BODY, headers=headers)
        finally:
            await gateway.stop(5)
            shedding.close()

    with Collector() as collector:
        tracing = Tracing(TracingSettings(endpoint=collector.url))
        try:
            got = run(lambda: scenario(tracing))
            span = _gateway_span(collector, tracing, trace_id)
        finally:
            tracing.shutdown()
    assert got.status_code == 503
    assert span.attributes["http.response.status_code"] == 503
    assert (span.status, span.status_message) == (ERROR, got.json()["error"])


def test_a_client_that_went_away_is_a_499_as_the_metrics_count_it(hanging_port: int) -> None:
    trace_id, headers = _traceparent()

    async def scenario(collector: Collector, tracing: Tracing) -> CollectedSpan:
        topo = topology(deployment("fraud", version_at("v1", hanging_port)))
        gateway = await started_gateway(topo, tracing=tracing)
        try:
            async with httpx.AsyncClient() as http:
                url = f"http://127.0.0.1:{gateway.port}/v2/models/fraud/infer"
                with pytest.raises(httpx.ReadTimeout):
                    await http.post(url, json=FRAUD_BODY, headers=headers, timeout=0.5)
            # The span ends when the gateway sees the client go (the replica never answers).
            return await asyncio.to_thread(_gateway_span, collector, tracing, trace_id)
        finally:
            await gateway.stop(5)

    with Collector() as collector:
        tracing = Tracing(TracingSettings(endpoint=collector.url))
        try:
            span = run(lambda: scenario(collector, tracing))
        finally:
            tracing.shutdown()
    assert span.attributes["http.response.status_code"] == 499
    assert span.status == ERROR
    assert "went away" in span.status_message
