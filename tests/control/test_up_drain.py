"""RELIABILITY R1 for the ``inferd up`` gateway: what a client sees from SIGTERM to exit.

A request held in flight through the gateway (its body still arriving when the signal comes)
keeps the drain going; meanwhile readiness is 503 at once, everything is served as usual for
``--drain-delay``, and then each new connection is answered 503 + ``Retry-After`` +
``Connection: close`` (before, it was refused); the held request is still answered 200.
"""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import pytest

from .conftest import FRAUD_BODY, fraud_store, spec_text, start_up

pytestmark = pytest.mark.slow

DELAY_S = 1.0
HEAD = (
    b"POST /v2/models/fraud/infer HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(FRAUD_BODY)
)
READY = b"GET /v2/health/ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


def _read_answer(sock: socket.socket) -> tuple[str, dict[str, str]]:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    status_line, *lines = data.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines)}
    return status_line.split()[1], headers


def _exchange(port: int, request: bytes) -> tuple[str, dict[str, str]]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        return _read_answer(sock)


def test_sigterm_keeps_in_flight_requests_and_answers_new_connections_503(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    fraud_store(home)
    spec = tmp_path / "inferd.yaml"
    spec.write_text(spec_text({"v1": ("fraud:v1", 1, 100)}, drain="10s"))
    up = start_up(home, spec, "--drain-delay", str(DELAY_S))
    port = up.gateway_port
    assert _exchange(port, READY)[0] == "200"
    held = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        held.sendall(HEAD + FRAUD_BODY[:10])  # in flight: its body is still arriving
        time.sleep(0.2)
        up.proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        while _exchange(port, READY)[0] != "503":
            assert time.monotonic() - signalled < 1.0, "readiness still 200 a second after"
        unready_s = time.monotonic() - signalled
        # The delay: served as usual while load balancers notice.
        assert _exchange(port, HEAD + FRAUD_BODY)[0] == "200"
        time.sleep(max(0.0, signalled + DELAY_S + 0.3 - time.monotonic()))
        # The drain: a new connection is told to retry elsewhere, not refused.
        status, headers = _exchange(port, HEAD + FRAUD_BODY)
        assert (status, headers.get("retry-after"), headers.get("connection")) == (
            "503",
            "1",
            "close",
        ), headers
        assert up.proc.poll() is None, "the held request keeps the drain going"
        held.sendall(FRAUD_BODY[10:])
        assert _read_answer(held)[0] == "200"
    finally:
        held.close()
    assert up.proc.wait(30) == 0
    assert unready_s < 1.0
    assert not (home / "up.json").exists()
