"""A shadow copy cut off by ``shadow_timeout`` timed out, and says so everywhere.

Its try's span ended ``cancelled`` (as if its client had gone away), over REST; and a gRPC copy
whose own deadline (the same ``shadow_timeout``) ended it first counted as ``failed``. Both are
a candidate too slow to answer: the span's outcome is ``timeout``, and so is the copy's
outcome in the metrics and the status tallies.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import cast

from inferd.control.gateway import Gateway
from inferd.control.gateway.grpc_outputs import GRPC_ANSWERS
from inferd.control.gateway.grpc_upstream import RpcAnswer
from inferd.control.gateway.metrics import GatewayMetrics
from inferd.control.gateway.proxy import Proxy
from inferd.control.gateway.shadow import Mirror
from inferd.control.replicas.topology import DeploymentRoute
from inferd.errors import DeadlineExceeded
from inferd.observe.tracing import Tracing
from otlp_collector import CollectedSpan

from .conftest import deployment, started_gateway, topology
from .test_grpc_tracing_tries import GrpcReplica, route, traced_call
from .test_tracing_tries_and_shadows import CLIENT, ERROR, FakeReplica, _post, _route, _traced

FRAUD = ("fraud", "v1", "v2")


async def timed_out(gateway: Gateway) -> None:
    """Once the copy has been counted as timed out (the gateway stopping would cancel it)."""
    async with asyncio.timeout(10):
        while not gateway.mirror.tallies[FRAUD].timeout:
            await asyncio.sleep(0.01)


def shadow_try(spans: list[CollectedSpan]) -> CollectedSpan:
    (copy,) = [s for s in spans if s.kind == CLIENT and s.attributes.get("inferd.shadow")]
    return copy


def has_shadow_try(spans: list[CollectedSpan]) -> bool:
    return any(s.kind == CLIENT and s.attributes.get("inferd.shadow") for s in spans)


def test_a_rest_copy_cut_off_by_the_shadow_timeout_timed_out() -> None:
    trace_id = secrets.token_hex(16)
    primary = FakeReplica(200)

    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # reads the copy, never answers

    async def scenario(tracing: Tracing) -> int:
        candidate = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = int(candidate.sockets[0].getsockname()[1])
        v1, v2 = _route("v1", await primary.start()), _route("v2", port, weight=0)
        gateway = await started_gateway(
            topology(deployment("fraud", v1, v2, shadow="v2")),
            tracing=tracing,
            shadow_timeout_s=0.2,
        )
        try:
            status = (await _post(gateway, trace_id)).status_code
            await timed_out(gateway)
            return status
        finally:
            await gateway.stop(5)
            primary.close()
            candidate.close()
            for writer in held:
                writer.close()

    copy = shadow_try(_traced(scenario, 200, trace_id, has_shadow_try))
    assert copy.attributes["inferd.attempt.outcome"] == "timeout"
    assert (copy.status, copy.status_message) == (ERROR, "timeout")


def test_a_grpc_copy_cut_off_by_the_shadow_timeout_timed_out() -> None:
    trace_id = secrets.token_hex(16)
    primary, candidate = GrpcReplica(), GrpcReplica(delay_s=5)

    async def build() -> DeploymentRoute:
        v1, v2 = await route("v1", primary), await route("v2", candidate, weight=0)
        return deployment("fraud", v1, v2, shadow="v2")

    async def stop(gateway: Gateway) -> None:
        await timed_out(gateway)
        await primary.stop()
        await candidate.stop()

    spans = traced_call(build, trace_id, has_shadow_try, shadow_timeout_s=0.2, after=stop)
    copy = shadow_try(spans)
    assert copy.attributes["inferd.attempt.outcome"] == "timeout"
    assert (copy.status, copy.status_message) == (ERROR, "timeout")


def test_a_copy_its_transports_deadline_ended_counts_as_a_timeout() -> None:
    """A gRPC copy is sent with the shadow timeout as its deadline, which may pass first."""

    async def scenario() -> dict[str, int]:
        metrics = GatewayMetrics()
        mirror = Mirror(cast(Proxy, None), metrics, timeout_s=1.0)

        async def send() -> RpcAnswer:
            raise DeadlineExceeded("'fraud' version 'v2' did not answer within 0.2 s")

        mirror.copy(*FRAUD, send, GRPC_ANSWERS).set_result(None)
        async with asyncio.timeout(5):
            while not (outcomes := dict(metrics.reading().shadow("fraud", "v2").outcomes)):
                await asyncio.sleep(0.01)
        assert mirror.tallies[FRAUD].timeout == 1
        return outcomes

    assert asyncio.run(scenario()) == {"timeout": 1}
