"""RELIABILITY R1 against a real ``inferd serve``: SIGTERM during 200 rps of open-loop load.

Each request opens a connection of its own (as a load balancer spreading new connections
would), sent on a fixed schedule whatever the answers (open loop). One more request, opened
before the signal, still has its body arriving when the drain begins: it keeps the drain
going, so what connects meanwhile meets a draining server rather than a closed one.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest

from e2e.conftest import FRAUD_BODY, ServeProcess, wait_ready

pytestmark = pytest.mark.slow

RATE_RPS = 200
#: Load before the signal, and after the end of the drain delay, in seconds.
BEFORE_S, AFTER_S = 1.0, 1.0
#: ``drain_timeout_s`` of the server under test (the exit bound is delay + this).
DRAIN_TIMEOUT_S = 5.0
#: From the end of the delay, as the test measures it, to the server's: the signal's delivery
#: and the event loop's turn. Requests sent in between may get either answer.
SETTLE_S = 0.25

_INFER_BODY = orjson.dumps(FRAUD_BODY)
_INFER_HEAD = (
    b"POST /v2/models/fraud/infer HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n" % len(_INFER_BODY)
)
INFER = _INFER_HEAD + b"Connection: close\r\n\r\n" + _INFER_BODY
READY = b"GET /v2/health/ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


@dataclass
class Answer:
    sent: float
    done: float = 0.0
    #: The HTTP status, or the class of the transport error (a reset, a refusal).
    status: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def _parse(answer: Answer, data: bytes) -> None:
    head, _, answer.body = data.partition(b"\r\n\r\n")
    if not head:
        answer.status = "closed without an answer"
        return
    status_line, *lines = head.decode("latin-1").split("\r\n")
    answer.status = status_line.split()[1]
    answer.headers = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines)}


async def _exchange(port: int, request: bytes) -> Answer:
    """One request on a connection of its own (``Connection: close``: read to the end)."""
    answer = Answer(time.monotonic())
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(request)
            _parse(answer, await reader.read())
        finally:
            writer.close()
    except OSError as exc:
        answer.status = type(exc).__name__
    answer.done = time.monotonic()
    return answer


@dataclass
class Run:
    signalled: float = 0.0
    #: When the first readiness 503 after the signal was read.
    unready: float = 0.0
    unready_answer: Answer | None = None
    ready_before: Counter[str] = field(default_factory=Counter)
    load: list[Answer] = field(default_factory=list)
    held: Answer | None = None
    exited: float = 0.0
    exit_code: int | None = None


async def _sigterm_under_load(server: ServeProcess, delay_s: float) -> Run:
    run = Run()
    port = server.port
    # Opened before the signal; its last body byte is sent only after the load has stopped.
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(_INFER_HEAD + b"\r\n" + _INFER_BODY[:-1])
    await writer.drain()
    start = time.monotonic()
    end = start + BEFORE_S + delay_s + AFTER_S

    async def open_loop() -> None:
        tasks: list[asyncio.Task[Answer]] = []
        for i in range(int((end - start) * RATE_RPS)):
            await asyncio.sleep(max(0.0, start + i / RATE_RPS - time.monotonic()))
            tasks.append(asyncio.create_task(_exchange(port, INFER)))
        run.load = list(await asyncio.gather(*tasks))

    async def readiness() -> None:
        while True:
            answer = await _exchange(port, READY)
            if answer.sent > run.signalled > 0:
                if answer.status != "200":
                    run.unready, run.unready_answer = answer.done, answer
                    return
            elif not run.signalled:  # answered before the signal (else it may go either way)
                run.ready_before[answer.status] += 1
            await asyncio.sleep(0.01)

    async def terminate() -> None:
        await asyncio.sleep(BEFORE_S)
        run.signalled = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)

    await asyncio.gather(open_loop(), readiness(), terminate())
    held = Answer(time.monotonic())
    writer.write(_INFER_BODY[-1:])
    _parse(held, await reader.read())
    writer.close()
    run.held = held
    run.exit_code = await asyncio.to_thread(server.proc.wait, 30)
    run.exited = time.monotonic()
    return run


@pytest.mark.parametrize("delay_s", [0.0, 1.0], ids=["no-delay", "delay-1s"])
def test_sigterm_at_200_rps_serves_the_delay_then_answers_503_until_exit(
    store_home: Path, serve, monkeypatch: pytest.MonkeyPatch, delay_s: float
) -> None:
    monkeypatch.setenv("INFERD_DRAIN_TIMEOUT_S", str(DRAIN_TIMEOUT_S))
    args = ["--drain-delay", str(delay_s)] if delay_s else []
    server = serve(store_home, "fraud:v1", *args)
    wait_ready(server.url)
    run = asyncio.run(_sigterm_under_load(server, delay_s))

    drain_at = run.signalled + delay_s
    before = [a for a in run.load if a.sent < drain_at]
    after = [a for a in run.load if a.sent >= drain_at + SETTLE_S]
    between = [a for a in run.load if drain_at <= a.sent < drain_at + SETTLE_S]
    print(
        f"\ndelay {delay_s} s: readiness 503 after {run.unready - run.signalled:.3f} s; "
        f"{len(run.load)} requests at {RATE_RPS} rps: before SIGTERM + delay "
        f"{dict(Counter(a.status for a in before))}, within {SETTLE_S} s after "
        f"{dict(Counter(a.status for a in between))}, later "
        f"{dict(Counter(a.status for a in after))}; exit {run.exit_code} "
        f"{run.exited - run.signalled:.2f} s after SIGTERM"
    )
    assert set(run.ready_before) == {"200"}, run.ready_before
    assert run.unready - run.signalled <= 1.0
    assert run.unready_answer is not None and run.unready_answer.status == "503"
    if delay_s:  # readiness itself says so, while everything else is still served
        assert orjson.loads(run.unready_answer.body) == {"ready": False}
    # The open loop kept its schedule: about RATE_RPS were sent in each second.
    assert len(before) >= 0.9 * RATE_RPS * (BEFORE_S + delay_s)
    assert len(after) >= 0.9 * RATE_RPS * (AFTER_S - SETTLE_S)
    # 0 failed among the requests sent before SIGTERM + drain_delay.
    assert Counter(a.status for a in before) == {"200": len(before)}
    # Connections opened after it, while the drain goes on: 503, never refused or reset.
    assert Counter(a.status for a in after) == {"503": len(after)}
    assert {a.status for a in between} <= {"200", "503"}
    for answer in (a for a in run.load if a.status == "503"):
        assert answer.headers.get("retry-after") == "1", answer.headers
        assert answer.headers.get("connection") == "close", answer.headers
        assert b"shutting down" in answer.body
    # The request in flight when the drain began is answered, and its connection closed.
    assert run.held is not None
    assert run.held.status == "200" and run.held.headers.get("connection") == "close"
    assert run.exit_code == 0
    assert run.exited - run.signalled <= delay_s + DRAIN_TIMEOUT_S


def test_grpc_after_sigterm_is_unready_serves_the_delay_then_is_unavailable(
    store_home: Path, serve
) -> None:
    """gRPC stops as grpc servers do: during the delay readiness is false and calls are served;
    then its listener closes and open channels get GOAWAY, so a new call is UNAVAILABLE (a
    refused connection: nothing was sent, safe to retry elsewhere)."""
    import numpy as np
    import tritonclient.grpc as triton
    from tritonclient.utils import InferenceServerException

    server = serve(store_home, "fraud:v1", "--drain-delay", "1")
    wait_ready(server.url)
    # Keeps the drain going: its body's last byte is sent at the end.
    held = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    held.sendall(_INFER_HEAD + b"\r\n" + _INFER_BODY[:-1])
    client = triton.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
    row = triton.InferInput("input", [1, 8], "FP32")
    row.set_data_from_numpy(np.full((1, 8), 0.5, np.float32))
    assert client.is_server_ready()
    signalled = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert not client.is_server_ready()
    assert client.infer("fraud", [row]).as_numpy("probabilities").shape == (1, 2)
    time.sleep(max(0.0, signalled + 1.0 + SETTLE_S - time.monotonic()))
    with pytest.raises(InferenceServerException) as refused:
        client.infer("fraud", [row])
    assert refused.value.status() == "StatusCode.UNAVAILABLE"
    held.sendall(_INFER_BODY[-1:])
    answer = Answer(0.0)
    _parse(answer, _read_to_end(held))
    assert answer.status == "200"
    client.close()
    assert server.proc.wait(30) == 0


def _read_to_end(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    sock.close()
    return data
