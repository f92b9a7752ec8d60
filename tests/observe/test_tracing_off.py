"""Tracing off costs nothing: without a collector configured, no OpenTelemetry module is even
imported by the server, the gateway or the CLI, and the plain handlers are installed."""

from __future__ import annotations

import subprocess
import sys

_PROBE = """
import asyncio, sys
import inferd.cli, inferd.server, inferd.control.up
from inferd.config import LimitSettings
from inferd.control.gateway import Gateway

async def main():
    gateway = Gateway("127.0.0.1", 0, limits=LimitSettings())
    await gateway.start()
    await gateway.stop(1)

asyncio.run(main())
print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
"""


def test_nothing_of_opentelemetry_is_imported_when_tracing_is_off() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
