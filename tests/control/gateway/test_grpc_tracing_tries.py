"""Over gRPC too, each try at a replica is a span of its own, and a shadow copy's is marked.

The gateway's gRPC front door traced a ``ModelInfer`` call as one SERVER span, and the
metadata it forwarded carried that span's ``traceparent`` on every try: a call retried on
another replica (UNAVAILABLE) showed neither which replica shed it nor how long the first try
took, and a shadow copy's replica spans hung beside the primary's. Now each try is a CLIENT
span under the gateway's, with the attributes a REST try has (replica, version, retry count,
outcome, and the gRPC status), and the replica continues it; a shadow copy's is named
``… (shadow)`` and carries ``inferd.shadow``.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable

import grpc

from inferd.config import LimitSettings
from inferd.control.gateway import Gateway
from inferd.control.gateway.grpc_gateway import GrpcGateway
from inferd.control.replicas.topology import DeploymentRoute, Replica, VersionRoute
from inferd.observe.tracing import Tracing
from inferd.protocols._generated import inference_pb2 as pb
from inferd.protocols.grpc.servicer import SERVICE
from otlp_collector import CollectedSpan

from .conftest import deployment, fake_grpc_replica, topology
from .test_tracing_tries_and_shadows import (
    CLIENT,
    ERROR,
    _traced,
    primary_and_shadow_tried,
    shadow_try_is_marked,
)

Context = grpc.aio.ServicerContext[bytes, bytes]


class GrpcReplica:
    """A gRPC replica whose ModelInfer answers after ``delay_s``, or ends UNAVAILABLE when
    ``shedding``; it records each call's ``traceparent``."""

    def __init__(self, *, shedding: bool = False, delay_s: float = 0.0) -> None:
        self.shedding = shedding
        self.delay_s = delay_s
        self.traceparents: list[str] = []
        self.server: grpc.aio.Server | None = None

    async def start(self) -> int:
        self.server, port = await fake_grpc_replica(self._infer)
        return port

    async def _infer(self, request: bytes, context: Context) -> bytes:
        metadata = dict(context.invocation_metadata() or ())
        self.traceparents.append(str(metadata.get("traceparent")))
        await asyncio.sleep(self.delay_s)
        if self.shedding:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "server is draining")
        return pb.ModelInferResponse(model_name="fraud").SerializeToString()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(0)


async def route(name: str, *replicas: GrpcReplica, weight: float = 100) -> VersionRoute:
    """Version ``name`` of ``fraud`` served by ``replicas`` (started), ids ``{name}-{i}``."""
    ports = [await r.start() for r in replicas]
    served = tuple(
        Replica(f"{name}-{i}", "fraud", name, "127.0.0.1", 1, "ready", grpc_port=port)
        for i, port in enumerate(ports)
    )
    return VersionRoute(name, "fraud", f"fraud:{name}", weight, served)


def traced_call(
    build: Callable[[], Awaitable[DeploymentRoute]],
    trace_id: str,
    done: Callable[[list[CollectedSpan]], bool],
    *,
    shadow_timeout_s: float = 2.0,
    prepare: Callable[[Gateway], None] = lambda gateway: None,
    after: Callable[[Gateway], Awaitable[None]] | None = None,
) -> list[CollectedSpan]:
    """One traced ModelInfer call through a traced gateway to the deployment ``build()`` makes
    (it must end OK), ``after`` awaited before the gateway stops; the spans of ``trace_id``."""

    async def scenario(tracing: Tracing) -> int:
        route = await build()
        gateway = Gateway(
            "127.0.0.1", 0, limits=LimitSettings(), tracing=tracing,
            shadow_timeout_s=shadow_timeout_s,
        )  # fmt: skip
        await gateway.start()
        gateway.update(topology(route))
        prepare(gateway)
        front = GrpcGateway(gateway, "127.0.0.1", 0)
        await front.start()
        front.update(topology(route))
        parent = f"00-{trace_id}-{secrets.token_hex(8)}-01"
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{front.port}") as channel:
                infer = channel.unary_unary(f"/{SERVICE}/ModelInfer")
                request = pb.ModelInferRequest(model_name="fraud").SerializeToString()
                await infer(request, metadata=(("traceparent", parent),))
            if after is not None:
                await after(gateway)
            return 0
        finally:
            await front.stop(5)
            await gateway.stop(5)

    return _traced(scenario, 0, trace_id, done)


def test_a_retried_call_has_a_span_per_try_and_the_replicas_are_their_children() -> None:
    trace_id = secrets.token_hex(16)
    good, shedding = GrpcReplica(), GrpcReplica(shedding=True)

    async def build() -> DeploymentRoute:
        return deployment("fraud", await route("v1", good, shedding))

    def shed_first(gateway: Gateway) -> None:
        gateway.proxy.outstanding["v1-0"] = 1  # the shedding replica (v1-1) is tried first

    async def stop(gateway: Gateway) -> None:
        await good.stop()
        await shedding.stop()

    spans = traced_call(build, trace_id, lambda s: len(s) >= 3, prepare=shed_first, after=stop)
    (server,) = [s for s in spans if s.kind != CLIENT]
    tries = sorted((s for s in spans if s.kind == CLIENT), key=lambda s: s.start_ns)
    assert [s.name for s in tries] == ["ModelInfer replica", "ModelInfer replica"]
    assert all(s.parent_id == server.span_id for s in tries)
    first, second = tries
    assert first.attributes["inferd.replica"] == "v1-1"
    assert first.attributes["inferd.attempt.outcome"] == "retried"
    assert first.attributes["rpc.grpc.status_code"] == grpc.StatusCode.UNAVAILABLE.value[0]
    assert first.attributes["http.response.status_code"] == 503
    assert (first.status, first.status_message) == (ERROR, "server is draining")
    assert "http.request.resend_count" not in first.attributes
    assert second.attributes["inferd.replica"] == "v1-0"
    assert second.attributes["inferd.attempt.outcome"] == "answered"
    assert second.attributes["rpc.grpc.status_code"] == 0
    assert second.attributes["http.request.resend_count"] == 1
    assert second.attributes["rpc.method"] == "ModelInfer"
    assert second.status != ERROR
    assert "inferd.shadow" not in first.attributes | second.attributes
    # Each replica's spans continue its own try's span.
    assert shedding.traceparents == [f"00-{trace_id}-{first.span_id}-01"]
    assert good.traceparents == [f"00-{trace_id}-{second.span_id}-01"]


def test_a_shadow_copys_span_is_marked_and_its_replica_is_its_child() -> None:
    trace_id = secrets.token_hex(16)
    primary, candidate = GrpcReplica(), GrpcReplica()

    async def build() -> DeploymentRoute:
        v1, v2 = await route("v1", primary), await route("v2", candidate, weight=0)
        return deployment("fraud", v1, v2, shadow="v2")

    async def copied(gateway: Gateway) -> None:
        while not candidate.traceparents or gateway.mirror.full or gateway.mirror._tasks:
            await asyncio.sleep(0.01)
        await primary.stop()
        await candidate.stop()

    spans = traced_call(build, trace_id, primary_and_shadow_tried, after=copied)
    shadow_try_is_marked(spans, "ModelInfer replica", trace_id, primary, candidate)
