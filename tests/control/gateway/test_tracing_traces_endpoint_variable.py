"""``inferd up`` ignored ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, the traces-only variable that
OpenTelemetry's SDKs read before ``OTEL_EXPORTER_OTLP_ENDPOINT`` (and the one the OpenTelemetry
Operator and many platforms inject): with it alone, nothing was traced; with both, spans went to
the generic endpoint. It is now read first; the spec's ``gateway.tracing`` still wins."""

from __future__ import annotations

import pytest

from inferd.config import TracingSettings
from inferd.control.gateway.tracing import tracing_settings
from inferd.errors import InvalidArgument
from inferd.spec.observability import TracingSpec

TRACES = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
GENERIC = "OTEL_EXPORTER_OTLP_ENDPOINT"


def test_the_traces_variable_alone_switches_tracing_on() -> None:
    env = {TRACES: "http://tempo:4318/v1/traces"}
    assert tracing_settings(None, env) == TracingSettings(endpoint="http://tempo:4318/v1/traces")


def test_the_traces_variable_wins_over_the_generic_one() -> None:
    env = {TRACES: "http://tempo:4318/v1/traces", GENERIC: "http://collector:4318"}
    assert tracing_settings(None, env) == TracingSettings(endpoint="http://tempo:4318/v1/traces")
    assert tracing_settings(None, {TRACES: "", GENERIC: "http://collector:4318"}) == (
        TracingSettings(endpoint="http://collector:4318")
    )


def test_the_spec_wins_over_both_variables() -> None:
    spec = TracingSpec(endpoint="http://spec:4318", sample_rate=0.5)
    env = {TRACES: "http://tempo:4318/v1/traces", GENERIC: "http://collector:4318"}
    assert tracing_settings(spec, env) == TracingSettings(
        endpoint="http://spec:4318", sample_rate=0.5
    )


def test_a_bad_traces_variable_is_named() -> None:
    with pytest.raises(InvalidArgument, match=f"{TRACES}='tempo:4318'"):
        tracing_settings(None, {TRACES: "tempo:4318", GENERIC: "http://collector:4318"})
