"""The model server's span of v2 inference says which route, version and outcome it was.

A request to ``/v2/models/{model}/versions/{version}/infer`` was named and routed as the
unversioned route (the gateway names it by its own route), and carried no version when it
failed; a request whose client went away was recorded as a 500 "CancelledError" where the
server's metrics count it 499. Now the span names the route it came by, the version asked for,
and a client gone as 499.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from opentelemetry import trace

from inferd.config import TracingSettings
from inferd.errors import Unavailable
from inferd.observe.tracing import Tracing
from inferd.protocols.http.host import HttpLimits
from inferd.protocols.v2.routes import data_router
from inferd.serving.types import InferRequest, InferResponse
from otlp_collector import CollectedSpan, Collector

from ..conftest import TEST_LIMITS, FakeDataPlane, Running, _finish, _start, metrics_text

ERROR = 2
BODY = {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}]}


class ShedDataPlane(FakeDataPlane):
    """Its ``shed`` model leaves every request in the queue for 50 ms, then sheds it, stamping
    the request's timings as the batcher does. Notes the trace current while it ran (what
    :mod:`inferd.server.logs` writes into log lines)."""

    def __init__(self, delay_s: float) -> None:
        super().__init__(delay_s)
        self.loaded["shed"] = "1"
        self.current_traces: list[str] = []

    async def infer(self, request: InferRequest) -> InferResponse:
        self.current_traces.append(f"{trace.get_current_span().get_span_context().trace_id:032x}")
        if request.model != "shed":
            return await super().infer(request)
        now = time.monotonic()
        if request.timings is not None:
            request.timings.shed_at(now - 0.05, now)
        raise Unavailable("model 'shed' waited 50 ms in the queue (its limit)", retry_after=1)


@pytest.fixture
def traced_plane() -> Iterator[tuple[Running, Collector, Tracing, ShedDataPlane]]:
    """A traced data plane (its ``slow`` model takes 5 s) and the collector it exports to."""
    with Collector() as collector:
        tracing = Tracing(TracingSettings(endpoint=collector.url))
        dataplane = ShedDataPlane(delay_s=5)
        router = data_router(dataplane, TEST_LIMITS, metrics_text, tracing)
        running, thread = _start(router, HttpLimits.from_settings(TEST_LIMITS), dataplane)
        try:
            yield running, collector, tracing, dataplane
        finally:
            _finish(running, thread)
            tracing.shutdown()


@pytest.fixture
def traced(
    traced_plane: tuple[Running, Collector, Tracing, ShedDataPlane],
) -> tuple[Running, Collector, Tracing]:
    return traced_plane[:3]


def _request_span(collector: Collector, tracing: Tracing) -> CollectedSpan:
    """The one request span, once it has ended (flushed until it arrives)."""
    deadline = time.monotonic() + 30
    while True:
        tracing.flush()
        spans = [s for s in collector.spans if s.name.startswith("POST ")]
        if spans:
            assert len(spans) == 1, spans
            return spans[0]
        assert time.monotonic() < deadline, "the request's span never arrived"
        time.sleep(0.05)


@pytest.mark.parametrize("status", [200, 404])
def test_a_versioned_request_is_named_by_its_route_and_version(
    traced: tuple[Running, Collector, Tracing], status: int
) -> None:
    running, collector, tracing = traced
    version = "1" if status == 200 else "7"
    url = f"{running.url}/v2/models/echo/versions/{version}/infer"
    assert httpx.post(url, json=BODY, timeout=30).status_code == status
    span = _request_span(collector, tracing)
    route = "/v2/models/{model}/versions/{version}/infer"
    assert span.name == f"POST {route}"
    assert span.attributes["http.route"] == route
    assert span.attributes["inferd.model"] == "echo"
    assert span.attributes["inferd.model_version"] == version
    assert span.attributes["http.response.status_code"] == status


def test_an_unversioned_request_keeps_its_route(traced: tuple[Running, Collector, Tracing]) -> None:
    running, collector, tracing = traced
    assert httpx.post(f"{running.url}/v2/models/echo/infer", json=BODY, timeout=30).is_success
    span = _request_span(collector, tracing)
    assert span.name == "POST /v2/models/{model}/infer"
    assert span.attributes["http.route"] == "/v2/models/{model}/infer"
    assert span.attributes["inferd.model_version"] == "1"  # the version that answered


def test_a_client_that_went_away_is_a_499(traced: tuple[Running, Collector, Tracing]) -> None:
    running, collector, tracing = traced
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{running.url}/v2/models/slow/infer", json=BODY, timeout=0.5)
    span = _request_span(collector, tracing)  # ends when the server sees the client go
    assert span.attributes["http.response.status_code"] == 499
    assert span.status == ERROR
    assert "went away" in span.status_message


def test_a_shed_request_says_why(traced: tuple[Running, Collector, Tracing]) -> None:
    running, collector, tracing = traced
    answer = httpx.post(f"{running.url}/v2/models/full/infer", json=BODY, timeout=30)
    assert answer.status_code == 503
    span = _request_span(collector, tracing)
    assert span.attributes["http.response.status_code"] == 503
    assert (span.status, span.status_message) == (ERROR, answer.json()["error"])


def test_a_request_shed_while_queued_has_its_queue_wait(
    traced: tuple[Running, Collector, Tracing],
) -> None:
    running, collector, tracing = traced
    answer = httpx.post(f"{running.url}/v2/models/shed/infer", json=BODY, timeout=30)
    assert answer.status_code == 503
    span = _request_span(collector, tracing)
    (wait,) = [s for s in collector.spans if s.name == "queue wait"]
    assert wait.parent_id == span.span_id
    assert wait.attributes["inferd.shed"] is True
    assert wait.end_ns - wait.start_ns == pytest.approx(50_000_000, abs=1_000_000)


def test_the_request_span_is_current_while_the_data_plane_runs(
    traced_plane: tuple[Running, Collector, Tracing, ShedDataPlane],
) -> None:
    running, collector, tracing, dataplane = traced_plane
    assert httpx.post(f"{running.url}/v2/models/echo/infer", json=BODY, timeout=30).is_success
    span = _request_span(collector, tracing)
    assert dataplane.current_traces == [span.trace_id]
