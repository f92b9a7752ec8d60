"""Log lines carry the trace of the request they were written for.

A user who found a failing request in Jaeger or Tempo could not find its log lines (nor the
trace of a log line): ``inferd serve`` and ``inferd up`` wrote no trace id. A line logged while a
span is current now ends with ``trace_id=<32 hex> span_id=<16 hex>``, the ids the collector
received; lines outside a span (and every line when tracing is off) end with their message.
"""

from __future__ import annotations

import re
import subprocess
import sys

from otlp_collector import Collector

#: Logs as ``inferd serve`` and ``inferd up`` do, with a span current and without, then prints
#: the span's ids (the trace exported to the collector at argv[1]).
PROBE = """
import logging, sys
from inferd.config import TracingSettings
from inferd.observe.tracing import Tracing
from inferd.server import configure_logging

configure_logging()
log = logging.getLogger("inferd.control.gateway.shadow")
tracing = Tracing(TracingSettings(endpoint=sys.argv[1]))
span = tracing.server_span("POST /v2/models/{model}/infer", {}, {})
with tracing.current(span):
    log.warning("shadow comparison for fraud skipped: not JSON")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("gateway gRPC ModelInfer failed")
log.info("outside any request")
span.end()
tracing.shutdown()
context = span.get_span_context()
print(f"{context.trace_id:032x} {context.span_id:016x}")
"""

#: Logs as the commands do, tracing off: OpenTelemetry is never imported.
UNTRACED = """
import logging, sys
from inferd.server import configure_logging

configure_logging()
logging.getLogger("inferd.server").info("no tracing here")
print(any(name.startswith("opentelemetry") for name in sys.modules))
"""


def _run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_lines_logged_in_a_span_carry_its_trace_as_the_collector_received_it() -> None:
    with Collector() as collector:
        done = _run(PROBE, collector.url)
        (exported,) = collector.spans
    trace_id, span_id = done.stdout.split()
    assert (exported.trace_id, exported.span_id) == (trace_id, span_id)
    ids = f" trace_id={trace_id} span_id={span_id}"
    lines = done.stderr.splitlines()
    assert any(
        re.fullmatch(
            r"\S+ \S+ WARNING inferd.control.gateway.shadow: shadow comparison for fraud "
            r"skipped: not JSON" + re.escape(ids),
            line,
        )
        for line in lines
    ), done.stderr
    # A traceback follows the line with the ids, as it follows the message.
    failed = lines.index(next(line for line in lines if "ModelInfer failed" in line))
    assert lines[failed].endswith("gateway gRPC ModelInfer failed" + ids)
    assert lines[failed + 1] == "Traceback (most recent call last):"
    assert next(line for line in lines if "outside any request" in line).endswith(
        "INFO inferd.control.gateway.shadow: outside any request"
    )


def test_without_tracing_lines_end_with_their_message() -> None:
    done = _run(UNTRACED)
    assert done.stdout.split() == ["False"]  # nothing of OpenTelemetry imported
    assert done.stderr.rstrip("\n").endswith("INFO inferd.server: no tracing here")
    assert "trace_id" not in done.stderr
