"""``OTEL_EXPORTER_OTLP_PROTOCOL=grpc`` (or its traces-only variable) was ignored: inferd exports
OTLP over HTTP only, so with the endpoint at a collector's gRPC port (4317, as that setting goes
with) every span was lost behind a warning that said nothing of the protocol. inferd now
refuses to start tracing, naming the variable and what to set instead."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from inferd.config import TracingSettings
from inferd.errors import Unsupported
from inferd.observe.tracing import Tracing

INFERD = str(Path(sys.executable).with_name("inferd"))


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
    ],
)
def test_a_protocol_inferd_does_not_export_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(Unsupported) as refused:
        Tracing(TracingSettings(endpoint="http://127.0.0.1:4317"))
    assert f"{variable}={value}" in refused.value.message
    assert "http/protobuf" in refused.value.message


@pytest.mark.parametrize("value", ["http/protobuf", "", "HTTP/PROTOBUF"])
def test_http_protobuf_or_no_protocol_traces(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", value)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", raising=False)
    Tracing(TracingSettings(endpoint="http://127.0.0.1:4318")).shutdown()


def test_inferd_serve_refuses_to_start_and_says_why(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "INFERD_HOME": str(tmp_path / "home"),
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
    }
    done = subprocess.run(
        [INFERD, "serve", "--allow-empty", "--no-grpc", "--no-control", "--port", "0",
         "--otlp-endpoint", "http://127.0.0.1:4317"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "OTEL_EXPORTER_OTLP_PROTOCOL=grpc" in done.stderr
    assert "Traceback" not in done.stderr
