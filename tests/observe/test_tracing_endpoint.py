"""An OTLP endpoint given as the traces URL (``http://collector:4318/v1/traces``, as Jaeger's
and the Collector's docs show it) had ``/v1/traces`` added again: the collector answered 404
and every span was lost, with nothing but an exporter warning. Spans now reach it."""

from __future__ import annotations

import pytest

from inferd.config import TracingSettings
from inferd.observe.tracing import Tracing
from otlp_collector import Collector


@pytest.mark.parametrize("path", ["", "/", "/v1/traces", "/v1/traces/"])
def test_spans_reach_the_collector_from_a_base_or_a_traces_url(path: str) -> None:
    with Collector() as collector:
        tracing = Tracing(TracingSettings(endpoint=collector.url + path))
        tracing.server_span("POST /v2/models/{model}/infer", {}, {}).end()
        tracing.shutdown()  # exports what is buffered
        assert [s.name for s in collector.spans] == ["POST /v2/models/{model}/infer"]
