"""OTLP/HTTP export that says when the collector fails, once, rather than once per retry.

OpenTelemetry's exporter logs a warning for every retry and an error for every batch it gives up
on: with the collector down, a line a second from each process of ``inferd up`` for as long as
it stays down, none saying what is lost. :class:`CollectorExport` holds those lines back and
says instead, once, that spans are being dropped (naming the collector and the exporter's first
reason), and once that they reach it again. When the process stops while the collector is
failing, what is buffered is dropped and an export waiting to retry gives up: a stop would
otherwise wait out every batch's retries (about 7 s each for a refused connection, up to the
exporter's 10 s timeout), past ``inferd up``'s drain of its replicas.

Imported only by :mod:`inferd.observe.tracing`, when tracing is configured.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

log = logging.getLogger(__name__)

#: The exporter's own logger (its HTTP client logs there too).
_OTLP_LOG = logging.getLogger(OTLPSpanExporter.__module__)


class _HeldBack(logging.Filter):
    """Holds back the exporter's records emitted by a thread while it exports through
    :class:`CollectorExport` (other threads' records pass), keeping their messages."""

    def __init__(self) -> None:
        super().__init__()
        self._local = threading.local()

    def hold(self) -> list[str]:
        """Start holding this thread's records; the list that receives their messages."""
        held: list[str] = []
        self._local.held = held
        return held

    def release(self) -> None:
        self._local.held = None

    def filter(self, record: logging.LogRecord) -> bool:
        held: list[str] | None = getattr(self._local, "held", None)
        if held is None:
            return True
        held.append(record.getMessage())
        return False


class CollectorExport(SpanExporter):
    """Spans to the collector at ``url`` (the traces URL), failures said once (see the module)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._otlp = OTLPSpanExporter(endpoint=url)
        self._held = _HeldBack()
        _OTLP_LOG.addFilter(self._held)
        self._failing = False
        self._stopping = False
        self._closed = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._stopping and self._failing:
            return SpanExportResult.FAILURE  # do not hold the stop on a collector that failed
        held = self._held.hold()
        try:
            result = self._otlp.export(spans)
        finally:
            self._held.release()
        if result is SpanExportResult.SUCCESS:
            if self._failing:
                log.info("tracing: spans reach the collector at %s again", self.url)
            self._failing = False
        elif not self._failing:
            self._failing = True
            reason = held[0] if held else "no reason given"
            log.warning(
                "tracing: spans could not be sent to the collector at %s (%s); spans are "
                "dropped until it takes them again (said once, and once when it does)",
                self.url,
                reason,
            )
        return result

    def stopping(self) -> None:
        """The process stops: what is still buffered is exported only if the collector works;
        if it is failing, an export waiting to retry against it gives up now."""
        self._stopping = True
        if self._failing:
            self._close()

    def shutdown(self) -> None:
        self._close()
        _OTLP_LOG.removeFilter(self._held)

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            self._otlp.shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._otlp.force_flush(timeout_millis)
