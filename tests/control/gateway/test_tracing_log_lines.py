"""What the gateway logs about a traced request carries that request's trace.

A shadow comparison skipped (the shadow answered something that does not decode) was logged
without any trace id: the SRE who found the request in the trace could not find the line, and
vice versa. The line is written by the shadow copy's own task, after the client's answer; it now
ends with the gateway span's ``trace_id`` and ``span_id``, as the collector received them.
"""

from __future__ import annotations

import asyncio
import io
import logging
import secrets

from inferd.observe.tracing import Tracing
from inferd.server.logs import log_handler

from .conftest import started_gateway, topology
from .test_tracing_tries_and_shadows import CLIENT, FakeReplica, _post, _shadowed, _traced


def test_a_skipped_shadow_comparison_is_logged_with_the_requests_trace() -> None:
    trace_id = secrets.token_hex(16)
    primary, candidate = FakeReplica(200, b"not json"), FakeReplica(200, b"not json either")
    out = io.StringIO()
    handler = log_handler(out)
    root = logging.getLogger()
    root.addHandler(handler)

    async def scenario(tracing: Tracing) -> int:
        route = await _shadowed(primary, candidate)
        gateway = await started_gateway(topology(route), tracing=tracing)
        try:
            status = (await _post(gateway, trace_id)).status_code
            async with asyncio.timeout(30):  # the copy compares after the client's answer
                while "shadow comparison" not in out.getvalue():
                    await asyncio.sleep(0.01)
            return status
        finally:
            await gateway.stop(5)
            primary.close()
            candidate.close()

    try:
        spans = _traced(scenario, 200, trace_id, lambda s: len(s) == 3)
    finally:
        root.removeHandler(handler)
    (gateway_span,) = [s for s in spans if s.kind != CLIENT]
    (line,) = [line for line in out.getvalue().splitlines() if "shadow comparison" in line]
    assert " WARNING inferd.control.gateway.shadow: shadow comparison for fraud skipped" in line
    assert line.endswith(f" trace_id={trace_id} span_id={gateway_span.span_id}")
