"""Each try at a replica is a span of its own, and a shadow copy's is marked as one.

The gateway retries a request refused by a replica (a 503, a refused connection) on another,
but its trace held one span for all tries: which replica shed it, and how long the first try
took, could not be seen, and both replicas' spans hung from the same parent. A shadow copy's
replica span hung there too, indistinguishable from the primary's. Now each try is a CLIENT span
under the gateway's (as Envoy's per-try spans): the replica, the retry count and how it ended;
the request it forwards carries that span's ``traceparent``, so the replica's spans are its
children; a shadow copy's try is named ``… (shadow)`` and carries ``inferd.shadow``.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

import httpx

from inferd.config import TracingSettings
from inferd.control.gateway import Gateway
from inferd.control.replicas.topology import DeploymentRoute, Replica, VersionRoute
from inferd.observe.tracing import Tracing
from otlp_collector import CollectedSpan, Collector

from .conftest import FRAUD_BODY, closed_port, deployment, run, started_gateway, topology

CLIENT, ERROR = 3, 2


class Traced(Protocol):
    """A fake replica that records the ``traceparent`` of each request it got."""

    traceparents: list[str]


class FakeReplica:
    """A replica answering every POST ``status`` (a 200 with ``body``), recording each one's
    ``traceparent``."""

    def __init__(self, status: int, body: bytes = b'{"model_name":"fraud","outputs":[]}') -> None:
        self.status = status
        self.body = body
        self.traceparents: list[str] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"traceparent:"):
                        self.traceparents.append(line.split(b":", 1)[1].strip().decode())
                await reader.readexactly(_length(head))
                body = self.body if self.status == 200 else b'{"error":"server is draining"}'
                writer.write(
                    b"HTTP/1.1 %d X\r\ncontent-type: application/json\r\n"
                    b"content-length: %d\r\n\r\n%s" % (self.status, len(body), body)
                )
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    def close(self) -> None:
        if self._server is not None:
            self._server.close()


def _length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


def _route(name: str, *ports: int, weight: float = 100) -> VersionRoute:
    replicas = tuple(
        Replica(f"{name}-{i}", "fraud", name, "127.0.0.1", port, "ready")
        for i, port in enumerate(ports)
    )
    return VersionRoute(name, "fraud", f"fraud:{name}", weight, replicas)


async def _shadowed(primary: FakeReplica, candidate: FakeReplica) -> DeploymentRoute:
    """Deployment ``fraud`` with both replicas started: v1 on ``primary`` takes all the
    traffic, v2 on ``candidate`` is its shadow."""
    return deployment(
        "fraud",
        _route("v1", await primary.start()),
        _route("v2", await candidate.start(), weight=0),
        shadow="v2",
    )


def _spans(
    collector: Collector,
    tracing: Tracing,
    trace_id: str,
    done: Callable[[list[CollectedSpan]], bool],
) -> list[CollectedSpan]:
    """The spans of ``trace_id`` once ``done`` says they are all there (flushed until then)."""
    deadline = time.monotonic() + 30
    while True:
        tracing.flush()
        spans = collector.trace(trace_id)
        if done(spans):
            return spans
        assert time.monotonic() < deadline, f"spans never arrived: {spans}"
        time.sleep(0.05)


def _traced(
    scenario: Callable[[Tracing], Awaitable[int]],
    status: int,
    trace_id: str,
    done: Callable[[list[CollectedSpan]], bool],
) -> list[CollectedSpan]:
    """Run ``scenario`` with a gateway's tracing that exports to a fresh OTLP collector, assert
    the HTTP ``status`` it returns, and give the spans of ``trace_id`` once ``done`` says they
    are all there (the tracing is shut down after)."""
    with Collector() as collector:
        tracing = Tracing(TracingSettings(endpoint=collector.url, service_name="inferd-gateway"))
        try:
            assert run(lambda: scenario(tracing)) == status
            return _spans(collector, tracing, trace_id, done)
        finally:
            tracing.shutdown()


def _post(gateway: Gateway, trace_id: str) -> asyncio.Future[httpx.Response]:
    async def post() -> httpx.Response:
        async with httpx.AsyncClient() as http:
            return await http.post(
                f"http://127.0.0.1:{gateway.port}/v2/models/fraud/infer",
                json=FRAUD_BODY,
                headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"},
            )

    return asyncio.ensure_future(post())


def test_a_retried_request_has_a_span_per_try_and_the_replicas_are_their_children() -> None:
    trace_id = secrets.token_hex(16)
    shedding, good = FakeReplica(503), FakeReplica(200)

    async def scenario(tracing: Tracing) -> int:
        ports = [await good.start(), await shedding.start()]
        gateway = await started_gateway(
            topology(deployment("fraud", _route("v1", *ports))), tracing=tracing
        )
        gateway.proxy.outstanding["v1-0"] = 1  # the shedding replica (v1-1) is tried first
        try:
            return (await _post(gateway, trace_id)).status_code
        finally:
            await gateway.stop(5)
            good.close()
            shedding.close()

    spans = _traced(scenario, 200, trace_id, lambda s: len(s) >= 3)
    (gateway_span,) = [s for s in spans if s.parent_id and s.name.startswith("POST /v2")]
    tries = sorted((s for s in spans if s.kind == CLIENT), key=lambda s: s.start_ns)
    assert [s.name for s in tries] == ["POST replica", "POST replica"]
    assert all(s.parent_id == gateway_span.span_id for s in tries)
    first, second = tries
    assert first.attributes["inferd.replica"] == "v1-1"
    assert first.attributes["inferd.attempt.outcome"] == "retried"
    assert first.attributes["http.response.status_code"] == 503
    assert (first.status, first.status_message) == (ERROR, "server is draining")
    assert "http.request.resend_count" not in first.attributes
    assert second.attributes["inferd.replica"] == "v1-0"
    assert second.attributes["inferd.attempt.outcome"] == "answered"
    assert second.attributes["http.response.status_code"] == 200
    assert second.attributes["http.request.resend_count"] == 1
    assert second.status != ERROR
    assert "inferd.shadow" not in first.attributes | second.attributes
    # Each replica's spans continue its own try's span.
    assert shedding.traceparents == [f"00-{trace_id}-{first.span_id}-01"]
    assert good.traceparents == [f"00-{trace_id}-{second.span_id}-01"]


def test_tries_that_got_no_answer_fail_their_spans() -> None:
    trace_id = secrets.token_hex(16)

    async def scenario(tracing: Tracing) -> int:
        route = _route("v1", closed_port())  # refused, then refused over a fresh connection
        gateway = await started_gateway(topology(deployment("fraud", route)), tracing=tracing)
        try:
            return (await _post(gateway, trace_id)).status_code
        finally:
            await gateway.stop(5)

    spans = _traced(scenario, 503, trace_id, lambda s: len(s) >= 3)
    tries = sorted((s for s in spans if s.kind == CLIENT), key=lambda s: s.start_ns)
    assert [s.attributes["inferd.attempt.outcome"] for s in tries] == ["connection failed"] * 2
    assert [(s.status, s.status_message) for s in tries] == [(ERROR, "connection failed")] * 2
    assert all("http.response.status_code" not in s.attributes for s in tries)


def test_a_shadow_copys_span_is_marked_and_its_replica_is_its_child() -> None:
    trace_id = secrets.token_hex(16)
    primary, candidate = FakeReplica(200), FakeReplica(200)

    async def scenario(tracing: Tracing) -> int:
        route = await _shadowed(primary, candidate)
        gateway = await started_gateway(topology(route), tracing=tracing)
        try:
            return (await _post(gateway, trace_id)).status_code
        finally:
            await gateway.stop(5)
            primary.close()
            candidate.close()

    spans = _traced(scenario, 200, trace_id, primary_and_shadow_tried)
    shadow_try_is_marked(spans, "POST replica", trace_id, primary, candidate)


def primary_and_shadow_tried(spans: list[CollectedSpan]) -> bool:
    """The trace is complete: the server span and one try at each of primary and shadow."""
    return len([s for s in spans if s.kind == CLIENT]) == 2 and len(spans) == 3


def shadow_try_is_marked(
    spans: list[CollectedSpan], name: str, trace_id: str, primary: Traced, candidate: Traced
) -> None:
    """The try at v1 (``name``) and the shadow copy's at v2 (``name (shadow)``, marked
    ``inferd.shadow``) hang from the server span, and each replica's spans from its own try."""
    (server,) = [s for s in spans if s.kind != CLIENT]
    by_name = {s.name: s for s in spans if s.kind == CLIENT}
    assert set(by_name) == {name, f"{name} (shadow)"}
    main, copy = by_name[name], by_name[f"{name} (shadow)"]
    assert copy.attributes["inferd.shadow"] is True
    assert "inferd.shadow" not in main.attributes
    assert (main.attributes["inferd.version"], copy.attributes["inferd.version"]) == ("v1", "v2")
    assert main.parent_id == copy.parent_id == server.span_id
    assert primary.traceparents == [f"00-{trace_id}-{main.span_id}-01"]
    assert candidate.traceparents == [f"00-{trace_id}-{copy.span_id}-01"]
