"""Traces over OTLP: W3C trace context in, spans out to a collector.

Import this module only when tracing is configured (``ServerSettings.tracing``,
``gateway.tracing``): it imports OpenTelemetry (the ``inferd[tracing]`` extra), and nothing
else in inferd does. Code that may trace holds a :class:`Tracing` or None, decides which
handler to install when it is built, and so does no per-request work at all when tracing is
off (docs/benchmarks.md measures it).

Spans are created with explicit times: the data plane records when a request queued, when its
batch started and finished (``time.monotonic()``), and the protocol layer turns those stamps
into child spans once the answer is encoded (:meth:`Tracing.clocks` anchors them); those
parents are passed explicitly. The gateway's span is made current while its handler runs
(:meth:`Tracing.current`), so each try at a replica is a child span of it (:meth:`Tracing.attempt`)
and the log lines of the request carry its trace id.

Sampling: a ``traceparent`` whose sampled flag is set is followed; a request without one starts
a trace with probability ``sample_rate`` (``ParentBased(TraceIdRatioBased)``). Spans are
exported in batches from the SDK's own thread, so the event loop never waits on the collector;
a collector that fails is said once, not per batch (:mod:`inferd.observe.tracing_export`).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from inferd import __version__
from inferd.config import TracingSettings
from inferd.errors import Unsupported
from inferd.observe.tracing_export import CollectorExport

__all__ = ["Span", "Tracing"]

#: Where OTLP/HTTP receives traces, below the collector's base URL.
TRACES_PATH = "/v1/traces"
_PROPAGATOR = TraceContextTextMapPropagator()
#: The status of a request whose client went away before its answer (nginx's, and the metrics').
CLIENT_GONE = 499

Attributes = Mapping[str, AttributeValue]


def traces_url(endpoint: str) -> str:
    """``http://collector:4318`` → ``http://collector:4318/v1/traces`` (the base URL as
    OTEL_EXPORTER_OTLP_ENDPOINT takes it); an endpoint that ends in ``/v1/traces`` already (the
    traces URL, as collectors' docs show it) is that URL, not a base to add a second one to."""
    base = endpoint.rstrip("/")
    return base if base.endswith(TRACES_PATH) else base + TRACES_PATH


def service_name(settings: TracingSettings) -> str:
    """The ``service.name`` of the spans, in OpenTelemetry's precedence: ``OTEL_SERVICE_NAME``,
    else ``service.name`` in ``OTEL_RESOURCE_ATTRIBUTES``, else inferd's (``settings``')."""
    given = OTELResourceDetector().detect().attributes.get(SERVICE_NAME)
    return given if isinstance(given, str) and given else settings.service_name


#: OpenTelemetry's variables choosing the OTLP protocol, the traces-only one first.
PROTOCOL_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
#: The one protocol inferd exports.
HTTP_PROTOBUF = "http/protobuf"


def check_protocol(environ: Mapping[str, str]) -> None:
    """Raise :class:`Unsupported` when the environment asks for an OTLP protocol other than
    inferd's (``grpc``, ``http/json``): spans sent over HTTP to a port that expects it would
    all be lost."""
    for variable in PROTOCOL_VARIABLES:
        protocol = environ.get(variable, "").strip()
        if not protocol:
            continue
        if protocol.lower() != HTTP_PROTOBUF:
            raise Unsupported(
                f"{variable}={protocol} is not supported: inferd exports traces over OTLP/HTTP "
                f"({HTTP_PROTOBUF}) only; set {variable}={HTTP_PROTOBUF} (or unset it) and "
                "point the endpoint at the collector's OTLP/HTTP port (4318 by default)"
            )
        return


class Tracing:
    """One process's tracer: spans sampled, batched and exported to ``settings.endpoint``."""

    def __init__(self, settings: TracingSettings) -> None:
        check_protocol(os.environ)
        self.settings = settings
        resource = Resource.create({SERVICE_NAME: service_name(settings), **settings.attributes})
        self._provider = TracerProvider(
            resource=resource, sampler=ParentBased(TraceIdRatioBased(settings.sample_rate))
        )
        self._export = CollectorExport(traces_url(settings.endpoint))
        self._provider.add_span_processor(BatchSpanProcessor(self._export))
        self._tracer = self._provider.get_tracer("inferd", __version__)

    def server_span(
        self,
        name: str,
        headers: Mapping[str, str],
        attributes: Attributes,
        start_ns: int | None = None,
    ) -> Span:
        """A SERVER span continuing the trace of ``headers``' ``traceparent`` (a new trace when
        there is none or it is malformed). Not recording when not sampled: check
        ``is_recording()`` before doing any work for it."""
        parent = _PROPAGATOR.extract(headers)
        return self._tracer.start_span(
            name, parent, SpanKind.SERVER, attributes, start_time=start_ns
        )

    def child(
        self, parent: Span, name: str, start_ns: int, end_ns: int, attributes: Attributes
    ) -> None:
        """A finished INTERNAL span under ``parent``, from ``start_ns`` to ``end_ns``."""
        context = trace.set_span_in_context(parent)
        span = self._tracer.start_span(name, context, attributes=attributes, start_time=start_ns)
        span.end(end_ns)

    @staticmethod
    @contextmanager
    def current(span: Span) -> Iterator[None]:
        """``span`` is the current span within (and in tasks started within): the parent of
        :meth:`attempt`'s spans, and the trace of log lines (:mod:`inferd.server.logs`)."""
        with trace.use_span(
            span, end_on_exit=False, record_exception=False, set_status_on_exception=False
        ):
            yield

    def attempt(self, name: str, attributes: Attributes) -> Span | None:
        """A CLIENT span under the current span (:meth:`current`): one try of a request at an
        upstream. None when no span is current or it records nothing (not sampled)."""
        if not trace.get_current_span().is_recording():
            return None
        return self._tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)

    @staticmethod
    def propagation(span: Span) -> dict[str, str]:
        """The headers (``traceparent``, and ``tracestate`` when there is one) that make the
        next hop's spans children of ``span``, sampled or not as it is."""
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier, trace.set_span_in_context(span))
        return carrier

    @staticmethod
    def failed(span: Span, status: int | None, message: str) -> None:
        """Mark ``span`` failed with the HTTP ``status`` it answered (None: no answer) and why."""
        if status is not None:
            span.set_attribute("http.response.status_code", status)
        span.set_status(StatusCode.ERROR, message)

    @staticmethod
    def interrupted(span: Span, exc: BaseException) -> None:
        """Mark ``span`` failed by ``exc`` escaping its handler: cancelled, the client went away
        (499, as the metrics count it), else a bug the server answers 500."""
        if isinstance(exc, asyncio.CancelledError):
            Tracing.failed(span, CLIENT_GONE, "cancelled: the client went away before its answer")
        else:
            Tracing.failed(span, 500, type(exc).__name__)

    def flush(self) -> None:
        """Export what is buffered now (blocks on the collector: call it from a thread when on
        the event loop)."""
        self._provider.force_flush()

    def shutdown(self) -> None:
        """Export what is buffered and stop (blocks up to the exporter's timeout: call it from
        a thread when on the event loop); with the collector failing, drop it instead."""
        self._export.stopping()
        self._provider.shutdown()

    @staticmethod
    def clocks() -> tuple[int, float]:
        """``(time.time_ns(), time.monotonic())`` read together: a monotonic stamp ``s`` is
        ``time_ns - (monotonic - s) * 1e9`` nanoseconds since the epoch."""
        return time.time_ns(), time.monotonic()
