"""``deployments[].logging`` (payload logging) and ``gateway.tracing``: what is accepted, what
is refused with a located message, and the values the gateway reads from them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from inferd.spec.loading import SpecError, parse_spec
from inferd.spec.model import GatewaySpec
from inferd.spec.observability import LoggingSpec


def _spec(logging: str) -> str:
    return (
        "apiVersion: inferd.dev/v1\nkind: Stack\ndeployments:\n  - name: fraud\n"
        "    versions: [{name: v1, model: fraud:v1}]\n"
        f"    logging: {logging}\n"
    )


def test_a_file_sink_with_defaults() -> None:
    spec = LoggingSpec.model_validate({"sink": {"file": {"path": "fraud/payloads.jsonl"}}})
    assert spec.sample_rate == 1.0 and spec.keep == "both" and spec.queue_size == 1000
    assert spec.max_payload_bytes == 64 * 1024
    assert spec.sink.file is not None and spec.sink.http is None
    assert spec.sink.file.max_bytes == 100 * 1024 * 1024 and spec.sink.file.max_files == 5


def test_an_http_sink() -> None:
    spec = LoggingSpec.model_validate(
        {
            "sample_rate": 0.25,
            "keep": "request",
            "max_payload_size": "1Mi",
            "sink": {
                "http": {
                    "url": "http://127.0.0.1:9000/events",
                    "encoding": "structured",
                    "timeout": "250ms",
                }
            },
        }
    )
    assert spec.sink.http is not None
    assert (spec.sink.http.encoding, spec.sink.http.timeout) == ("structured", 0.25)
    assert spec.max_payload_bytes == 1024 * 1024


@pytest.mark.parametrize(
    ("logging", "where", "message"),
    [
        ("{sink: {}}", "deployments[0].logging.sink", "name exactly one sink: file or http"),
        (
            "{sink: {file: {path: a.jsonl}, http: {url: 'http://h/'}}}",
            "deployments[0].logging.sink",
            "name exactly one sink",
        ),
        (
            "{sink: {file: {path: ../escape.jsonl}}}",
            "deployments[0].logging.sink.file.path",
            "relative file path without '..'",
        ),
        (
            "{sink: {file: {path: /var/log/x.jsonl}}}",
            "deployments[0].logging.sink.file.path",
            "relative file path",
        ),
        (
            "{sink: {file: {path: a.jsonl, max_size: 500m}}}",
            "deployments[0].logging.sink.file.max_size",
            "less than one byte",
        ),
        (
            "{sink: {http: {url: 'ftp://h/x'}}}",
            "deployments[0].logging.sink.http.url",
            "'ftp://h/x' is not an http:// or https:// URL with a host",
        ),
        (
            "{sample_rate: 1.5, sink: {file: {path: a.jsonl}}}",
            "deployments[0].logging.sample_rate",
            "less than or equal to 1",
        ),
        (
            "{keep: all, sink: {file: {path: a.jsonl}}}",
            "deployments[0].logging.keep",
            "'request', 'response' or 'both'",
        ),
        ("{sink: {file: {path: a.jsonl}}, mode: all}", "deployments[0].logging.mode", "unknown"),
    ],
)
def test_bad_logging_is_refused_where_it_is(logging: str, where: str, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(_spec(logging))
    problems = [(p.path, p.message) for p in caught.value.problems]
    assert any(path == where and message in text for path, text in problems), problems


def test_tracing_needs_an_http_endpoint_and_a_share() -> None:
    spec = GatewaySpec.model_validate({"tracing": {"endpoint": "http://localhost:4318"}})
    assert spec.tracing is not None and spec.tracing.sample_rate == 1.0
    assert GatewaySpec().tracing is None  # off by default
    with pytest.raises(ValidationError, match="endpoint"):
        GatewaySpec.model_validate({"tracing": {"endpoint": "localhost:4318"}})
    with pytest.raises(ValidationError, match="sample_rate"):
        GatewaySpec.model_validate({"tracing": {"endpoint": "http://c:4318", "sample_rate": -1}})
