"""``inferd serve`` traces as its settings file says: ``--trace-sample-rate`` applies to the
``tracing:`` of ``--config`` (it was refused as needing ``--otlp-endpoint``), and the file's
``service_name`` names the spans even when ``OTEL_EXPORTER_OTLP_ENDPOINT`` picks the collector
(it was replaced by ``inferd-serve``)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from otlp_collector import Collector

from .conftest import ServeProcess, wait_ready

Serve = Callable[..., ServeProcess]


def _traced_roots(server: ServeProcess, collector: Collector, body: dict[str, object]) -> list[str]:
    """Send one request with a sampled traceparent and one without; the services of the
    request spans the collector got once the server stopped."""
    url = f"{server.url}/v2/models/fraud/infer"
    sampled = {"traceparent": f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"}
    assert httpx.post(url, json=body, headers=sampled, timeout=30).status_code == 200
    assert httpx.post(url, json=body, timeout=30).status_code == 200
    assert server.terminate() == 0  # exports what is buffered
    return [s.service for s in collector.spans if s.name.startswith("POST ")]


def test_the_sample_rate_flag_applies_to_the_files_tracing(
    store_home: Path,
    serve: Serve,
    tmp_path: Path,
    fraud_body: dict[str, object],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    with Collector() as collector:
        config = tmp_path / "inferd.yaml"
        config.write_text(f"tracing: {{endpoint: {collector.url!r}}}\n")
        server = serve(store_home, "fraud:v1", "--config", str(config),
                       "--trace-sample-rate", "0")  # fmt: skip
        wait_ready(server.url)
        # rate 0: only the request whose traceparent is sampled is traced
        assert _traced_roots(server, collector, fraud_body) == ["inferd-serve"]


def test_the_files_service_name_stays_with_the_variables_endpoint(
    store_home: Path,
    serve: Serve,
    tmp_path: Path,
    fraud_body: dict[str, object],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with Collector() as collector:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url)
        config = tmp_path / "inferd.yaml"
        config.write_text("tracing: {endpoint: 'http://127.0.0.1:9', service_name: fraud-api}\n")
        server = serve(store_home, "fraud:v1", "--config", str(config))
        wait_ready(server.url)
        assert _traced_roots(server, collector, fraud_body) == ["fraud-api", "fraud-api"]


def test_the_traces_variable_wins_over_the_generic_one(
    store_home: Path,
    serve: Serve,
    fraud_body: dict[str, object],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (the traces URL, which the OpenTelemetry Operator
    injects) is read before ``OTEL_EXPORTER_OTLP_ENDPOINT``, as OpenTelemetry's SDKs read them:
    ``inferd serve`` ignored it, and spans went to the generic endpoint."""
    with Collector() as collector:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{collector.url}/v1/traces")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
        server = serve(store_home, "fraud:v1")
        wait_ready(server.url)
        assert _traced_roots(server, collector, fraud_body) == ["inferd-serve", "inferd-serve"]
