"""What the access tests ask a running server, the same way for ``inferd serve`` and ``inferd up``:
curl's statuses, and which certificate a new TLS connection is served."""

from __future__ import annotations

import http.client
import re
import ssl
import subprocess
import time
from pathlib import Path

from protocols.access.certs import TestCA, install, peer_serial


def curl(*args: str) -> tuple[list[int], str]:
    """curl's statuses (one per transfer) and its output, headers included."""
    done = subprocess.run(
        ["curl", "-sS", "-i", "-w", "\nSTATUS %{http_code}\n", *args],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return [int(s) for s in re.findall(r"^STATUS (\d+)$", done.stdout, re.M)], done.stdout


def replace_certificate(ca: TestCA, cert: Path, key: Path, port: int) -> None:
    """Install a new certificate from ``ca`` at ``cert`` and ``key``, and wait (10 s at most)
    until a new connection to 127.0.0.1:``port`` is served it."""
    context = ssl.create_default_context(cafile=ca.path)
    second = ca.issue("second")
    install(second, cert, key)
    deadline, seen = time.monotonic() + 10, None
    while seen != second.serial and time.monotonic() < deadline:
        time.sleep(0.2)
        fresh = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
        fresh.request("GET", "/v2/health/live")
        assert fresh.getresponse().status == 200
        seen = peer_serial(fresh.sock.getpeercert(binary_form=True))
        fresh.close()
    assert seen == second.serial
