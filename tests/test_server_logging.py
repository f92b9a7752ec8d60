"""The log of ``inferd serve`` and ``inferd up`` (:func:`inferd.server.configure_logging`):
inferd's own events at INFO, the HTTP clients' line per request left out."""

from __future__ import annotations

import subprocess
import sys

#: Configures logging as both commands do, sends one request through httpx (its transport
#: answers in-process, so the client logs as it does for a replica's health probe), and logs
#: one event of inferd's own.
PROBE = """
import logging
import httpx
from inferd.server import configure_logging

configure_logging()
transport = httpx.MockTransport(lambda request: httpx.Response(200))
with httpx.Client(transport=transport) as client:
    assert client.get("http://127.0.0.1:9/v2/health/ready").status_code == 200
logging.getLogger("inferd.control.reconciler").info("fraud/v1: add (+1 -0 replicas)")
logging.getLogger("httpx").warning("a warning still shows")
print(logging.getLogger("httpx").getEffectiveLevel(), logging.getLogger("httpcore").level)
"""


def test_requests_are_not_logged_and_inferds_events_are() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["30", "30"]  # WARNING
    assert "HTTP Request" not in done.stderr and "/v2/health/ready" not in done.stderr
    assert "INFO inferd.control.reconciler: fraud/v1: add (+1 -0 replicas)" in done.stderr
    assert "WARNING httpx: a warning still shows" in done.stderr
