"""The log of ``inferd serve`` and ``inferd up``.

A line logged while a traced request's span is current (the gateway's, ``inferd up`` tracing)
ends with ``trace_id=<32 hex> span_id=<16 hex>``, as OpenTelemetry's logging instrumentation
names them: a trace found in Jaeger or Tempo leads to its log lines by a grep, and a log line
to its trace. Without tracing, OpenTelemetry is never imported and lines end with the message.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: HTTP clients that log every request they send at INFO (httpx) or below (httpcore): at INFO
#: they would bury inferd's own events under ``inferd up``'s replica health probes (one a
#: second per replica, forever) and each request of a registry pull.
QUIET_LOGGERS = ("httpx", "httpcore")
#: OpenTelemetry's API, imported by :mod:`inferd.observe.tracing` once tracing is on.
_OTEL_TRACE = "opentelemetry.trace"


def trace_ids() -> tuple[str, str] | None:
    """The current span's trace and span ids (32 and 16 lower-case hex), None when no span is
    current (or tracing is off: then OpenTelemetry is not even imported)."""
    api = sys.modules.get(_OTEL_TRACE)
    if api is None:
        return None
    context = api.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


class TraceIds(logging.Filter):
    """Adds ``trace_id`` and ``span_id`` to records made while a span is current (empty
    strings otherwise), for formats (:class:`TracedFormatter`, a JSON one) to write."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = trace_ids()
        record.trace_id, record.span_id = ids if ids is not None else ("", "")
        return True


class TracedFormatter(logging.Formatter):
    """:data:`LOG_FORMAT`, and `` trace_id=… span_id=…`` after the message of a record that
    has them (:class:`TraceIds`), before any traceback."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        trace_id = getattr(record, "trace_id", "")
        if not trace_id:
            return line
        return f"{line} trace_id={trace_id} span_id={getattr(record, 'span_id', '')}"


def log_handler(stream: TextIO | None = None) -> logging.Handler:
    """The handler of :func:`configure_logging`: to ``stream`` (stderr), each line in
    :class:`TracedFormatter`."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TracedFormatter(LOG_FORMAT))
    handler.addFilter(TraceIds())
    return handler


def configure_logging() -> None:
    """The log of ``inferd serve`` and ``inferd up``: INFO and up to stderr in
    :data:`LOG_FORMAT` (with the trace of a traced request), but only WARNING and up from
    :data:`QUIET_LOGGERS`."""
    logging.basicConfig(level=logging.INFO, handlers=[log_handler()])
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
