"""``OTEL_SERVICE_NAME`` (and ``service.name`` in ``OTEL_RESOURCE_ATTRIBUTES``) named the service
in OpenTelemetry's SDK, but inferd's own name (``inferd-serve``, ``inferd-gateway``,
``inferd-replica``) overrode it: a user who set it to find inferd's spans among their other
services' in Jaeger or Tempo found none under that name. OpenTelemetry's precedence now holds:
``OTEL_SERVICE_NAME``, else ``OTEL_RESOURCE_ATTRIBUTES``' ``service.name``, else inferd's name."""

from __future__ import annotations

import pytest

from inferd.config import TracingSettings
from inferd.observe.tracing import Tracing
from otlp_collector import Collector


def _service(attributes: dict[str, str] | None = None) -> dict[str, object]:
    """The resource of a span exported by a tracer named ``inferd-gateway`` by inferd."""
    with Collector() as collector:
        settings = TracingSettings(
            endpoint=collector.url, service_name="inferd-gateway", attributes=attributes or {}
        )
        tracing = Tracing(settings)
        tracing.server_span("POST /v2/models/{model}/infer", {}, {}).end()
        tracing.shutdown()  # exports what is buffered
        (span,) = collector.spans
        return span.resource


@pytest.mark.parametrize(
    ("service_name", "resource_attributes", "expected"),
    [
        (None, None, "inferd-gateway"),
        ("checkout-inference", None, "checkout-inference"),
        (None, "deployment.environment=prod,service.name=from-attrs", "from-attrs"),
        ("checkout-inference", "service.name=from-attrs", "checkout-inference"),
        ("", None, "inferd-gateway"),  # set but empty, as a script's unset variable: not set
    ],
)
def test_the_users_service_name_wins_over_inferds(
    monkeypatch: pytest.MonkeyPatch,
    service_name: str | None,
    resource_attributes: str | None,
    expected: str,
) -> None:
    for name, value in [
        ("OTEL_SERVICE_NAME", service_name),
        ("OTEL_RESOURCE_ATTRIBUTES", resource_attributes),
    ]:
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    resource = _service({"inferd.deployment": "fraud"})
    assert resource["service.name"] == expected
    assert resource["inferd.deployment"] == "fraud"  # inferd's own attributes are still there
    if resource_attributes:
        assert resource.get("deployment.environment", "prod") == "prod"
