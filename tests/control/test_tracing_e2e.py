"""Traces through a real ``inferd up``: one request's spans, from the gateway to the batch that
served it, arrive at an in-process OTLP collector as one parent/child chain of one trace.

The spec names the collector (``gateway.tracing``); ``inferd up`` traces its gateway and hands
the collector to its replicas. Stopping it exports what is buffered, so the test reads the
collector after the stop, without waiting on any clock.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from inferd.config import TracingSettings
from inferd.control.gateway.tracing import tracing_settings
from inferd.errors import InvalidArgument
from inferd.spec.observability import TracingSpec
from otlp_collector import CollectedSpan, Collector

from .conftest import FRAUD_BODY, fraud_store, start_up

pytestmark = pytest.mark.slow

INFER_SPAN = "POST /v2/models/{model}/infer"
SPEC = """\
apiVersion: inferd.dev/v1
kind: Stack
gateway:
  port: 0
  drain_timeout: 5s
  tracing: {{endpoint: "{endpoint}", sample_rate: 1}}
deployments:
  - name: fraud
    versions: [{{name: v1, model: "fraud:v1", replicas: 1}}]
"""


def _only(spans: list[CollectedSpan], **match: object) -> CollectedSpan:
    found = [s for s in spans if all(getattr(s, k) == v for k, v in match.items())]
    assert len(found) == 1, (match, spans)
    return found[0]


def _chain(spans: list[CollectedSpan], parent_of_gateway: str) -> None:
    """gateway SERVER span → its try at the replica (CLIENT) → replica SERVER span → queue
    wait, batch (size 1), encode."""
    gateway = _only(spans, service="inferd-gateway", kind=Span.SPAN_KIND_SERVER)
    assert gateway.name == INFER_SPAN
    assert gateway.parent_id == parent_of_gateway
    assert gateway.attributes["inferd.deployment"] == "fraud"
    assert gateway.attributes["http.response.status_code"] == 200

    tried = _only(spans, service="inferd-gateway", kind=Span.SPAN_KIND_CLIENT)
    assert tried.name == "POST replica"
    assert tried.parent_id == gateway.span_id
    assert tried.attributes["inferd.attempt.outcome"] == "answered"

    replica = _only(spans, service="inferd-replica", name=INFER_SPAN)
    assert replica.kind == Span.SPAN_KIND_SERVER
    assert replica.parent_id == tried.span_id
    assert replica.resource["inferd.replica"] == tried.attributes["inferd.replica"]
    assert replica.resource["inferd.deployment"] == "fraud"
    assert replica.resource["inferd.version"] == "v1"
    # Which replica served it: its log is up/logs/<replica>.log.
    assert str(replica.resource["inferd.replica"]).startswith("fraud-v1")
    assert replica.attributes["inferd.model"] == "fraud"
    assert replica.attributes["http.response.status_code"] == 200

    queue = _only(spans, name="queue wait")
    batch = _only(spans, name="batch")
    encode = _only(spans, name="encode")
    for child in (queue, batch, encode):
        assert child.parent_id == replica.span_id and child.service == "inferd-replica"
    assert batch.attributes["inferd.batch.size"] == 1
    assert batch.attributes["inferd.batch.requests"] == 1
    assert len(spans) == 6
    # Nested in time as in the request's life (one machine, one wall clock).
    assert gateway.start_ns <= tried.start_ns <= replica.start_ns <= queue.start_ns
    assert queue.start_ns <= queue.end_ns == batch.start_ns <= batch.end_ns <= encode.start_ns
    assert encode.start_ns <= encode.end_ns <= replica.end_ns <= tried.end_ns <= gateway.end_ns
    assert all(s.status != 2 for s in spans)  # none failed


def test_one_request_is_one_trace_from_the_gateway_to_its_batch(tmp_path: Path) -> None:
    home = tmp_path / "home"
    fraud_store(home)
    client_trace, client_span = secrets.token_hex(16), secrets.token_hex(8)
    unsampled_trace = secrets.token_hex(16)
    with Collector() as collector:
        spec = tmp_path / "inferd.yaml"
        spec.write_text(SPEC.format(endpoint=collector.url))
        up = start_up(home, spec)
        try:
            url = f"http://127.0.0.1:{up.gateway_port}/v2/models/fraud/infer"
            json = {"content-type": "application/json"}
            for traceparent in (
                f"00-{client_trace}-{client_span}-01",  # the client's sampled trace: continued
                f"00-{unsampled_trace}-{client_span}-00",  # not sampled: nothing recorded
                None,  # no trace: the gateway starts one
            ):
                headers = json if traceparent is None else {**json, "traceparent": traceparent}
                answer = httpx.post(url, content=FRAUD_BODY, headers=headers, timeout=30)
                assert answer.status_code == 200, answer.text
        finally:
            assert up.stop() == 0  # exports what the gateway and the replica buffered

        _chain(collector.trace(client_trace), parent_of_gateway=client_span)
        assert collector.trace(unsampled_trace) == []
        roots = [s for s in collector.spans if s.service == "inferd-gateway" and not s.parent_id]
        assert len(roots) == 1
        _chain(collector.trace(roots[0].trace_id), parent_of_gateway="")


def test_inferd_up_traces_where_the_spec_or_the_variable_says() -> None:
    spec = TracingSpec(endpoint="http://collector:4318", sample_rate=0.25)
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://other:4318"}
    assert tracing_settings(spec, env) == TracingSettings(
        endpoint="http://collector:4318", sample_rate=0.25
    )
    assert tracing_settings(None, env) == TracingSettings(endpoint="http://other:4318")
    assert tracing_settings(None, {}) is None
    with pytest.raises(InvalidArgument, match="OTEL_EXPORTER_OTLP_ENDPOINT='collector:4318'"):
        tracing_settings(None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"})
