"""The access log of the HTTP server (:mod:`inferd.protocols.http.access_log`), on a real
loopback server over the transport tests' router: one line per request once its answer ends,
streams when they end, a client gone as 499, no credentials, nothing at all when it is off."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import orjson
import pytest
import uvloop

from inferd.config import LimitSettings
from inferd.protocols.http import HttpServer
from inferd.protocols.http.access_log import (
    LOGGER,
    MAX_LOGGED_PATH,
    AccessFormat,
    AccessLog,
    http_server,
)
from inferd.protocols.http.host import HttpLimits
from protocols.conftest import TEST_LIMITS, Running
from protocols.http.conftest import HOLD_S, Seen, transport_router

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE}-00f067aa0ba902b7-01"
TEXT_LINE = re.compile(
    r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z 127\.0\.0\.1:\d+ "(\w+) (\S+) HTTP/1\.1" '
    r"(\d{3}) (\d+) (\d+\.\d{3})( trace_id=[0-9a-f]{32})?$"
)


class Lines(logging.Handler):
    """The access lines written, as the ``inferd.access`` logger's one handler."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def wait(self, count: int, timeout_s: float = 5.0) -> list[str]:
        deadline = time.monotonic() + timeout_s
        while len(self.lines) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.lines)


@contextmanager
def captured() -> Iterator[Lines]:
    """The access lines written meanwhile (the logger's handlers and level restored after)."""
    access = logging.getLogger(LOGGER)
    handler, kept = Lines(), (access.handlers[:], access.level)
    access.handlers[:] = [handler]
    access.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        access.handlers[:], level = kept
        access.setLevel(level)


@pytest.fixture
def lines() -> Iterator[Lines]:
    with captured() as handler:
        yield handler


@pytest.fixture
def logged(seen: Seen) -> Iterator[Callable[..., Running]]:
    """``logged(format, traced=False, limits=None)``: a server over the transport router,
    access-logged in ``format`` (None: off, a plain server), with ``limits`` (the defaults)."""
    loops: list[tuple[Running, threading.Thread]] = []

    def start(
        format: AccessFormat | None, *, traced: bool = False, limits: LimitSettings | None = None
    ) -> Running:
        loop = uvloop.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        access = AccessLog(format, traced=traced) if format is not None else None

        async def boot() -> HttpServer:
            bounds = HttpLimits.from_settings(limits or LimitSettings())
            server = http_server(access, transport_router(seen), bounds)
            await server.start("127.0.0.1", 0)
            return server

        server = asyncio.run_coroutine_threadsafe(boot(), loop).result(10)
        running = Running(f"http://127.0.0.1:{server.port}", server.port, server, loop, None)  # type: ignore[arg-type]
        loops.append((running, thread))
        return running

    yield start
    for running, thread in loops:
        running.stop(1.0)
        running.loop.call_soon_threadsafe(running.loop.stop)
        thread.join(10)
        running.loop.close()


def test_a_line_per_request_with_its_fields_and_never_its_credentials(
    logged: Callable[..., Running], lines: Lines
) -> None:
    running = logged("text")
    secret = {"authorization": "Bearer sk-very-secret-key", "x-api-key": "sk-other-secret"}
    with httpx.Client(base_url=running.url, headers=secret) as client:
        assert client.get("/ping", params={"api_key": "sk-in-query"}).status_code == 200
        assert client.post("/digest", content=b"a private body").status_code == 200
        assert client.get("/nowhere").status_code == 404
    got = lines.wait(3)
    assert len(got) == 3
    parsed = [TEXT_LINE.match(line) for line in got]
    assert all(parsed), got
    fields = [m.groups()[:4] for m in parsed if m]
    assert fields[0] == ("GET", "/ping", "200", "11")  # {"ok":true}: the query left out
    assert fields[1][:3] == ("POST", "/digest", "200")
    assert fields[2][:3] == ("GET", "/nowhere", "404")
    for line in got:
        assert "secret" not in line and "sk-" not in line and "private" not in line


def test_json_lines_are_one_object_each(logged: Callable[..., Running], lines: Lines) -> None:
    running = logged("json")
    assert httpx.post(f"{running.url}/digest", content=b"x" * 10).status_code == 200
    (line,) = lines.wait(1)
    entry = orjson.loads(line)
    assert set(entry) == {"time", "client", "method", "path", "protocol", "status", "bytes",
                          "duration_ms", "trace_id"}  # fmt: skip
    assert entry["time"].endswith("Z") and entry["client"].startswith("127.0.0.1:")
    assert (entry["method"], entry["path"], entry["protocol"]) == ("POST", "/digest", "HTTP/1.1")
    assert entry["status"] == 200 and entry["bytes"] > 0 and entry["duration_ms"] >= 0
    assert entry["trace_id"] is None


def test_a_stream_is_logged_when_it_ends_with_every_byte_sent(
    logged: Callable[..., Running], lines: Lines, seen: Seen
) -> None:
    running = logged("json")
    with httpx.stream("GET", f"{running.url}/stream") as answer:
        parts = answer.iter_bytes()
        first = next(parts)
        time.sleep(0.2)
        assert lines.lines == []  # not before it ended
        seen.gate.set()
        body = first + b"".join(parts)
    (line,) = lines.wait(1)
    entry = orjson.loads(line)
    assert (entry["status"], entry["bytes"]) == (200, len(b"first\nchunk 0\nchunk 1\nchunk 2\n"))
    assert entry["bytes"] == len(body)
    assert entry["duration_ms"] >= 200


def test_a_client_that_left_is_499(
    logged: Callable[..., Running], lines: Lines, seen: Seen
) -> None:
    running = logged("json")
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as sock:
        sock.sendall(b"GET /stream HTTP/1.1\r\nhost: x\r\n\r\n")
        data = b""
        while b"first\n" not in data:
            data += sock.recv(65536)
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as sock:
        sock.sendall(b"POST /hold HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\n\r\nx")
    got = sorted((orjson.loads(line) for line in lines.wait(2, HOLD_S * 4)), key=str)
    assert {(e["path"], e["status"], e["bytes"]) for e in got} == {
        ("/stream", 499, len(b"first\n")),
        ("/hold", 499, 0),
    }


def test_the_trace_id_when_the_server_traces(logged: Callable[..., Running], lines: Lines) -> None:
    traced, untraced = logged("text", traced=True), logged("text")
    for running in (traced, untraced):
        httpx.get(f"{running.url}/ping", headers={"traceparent": TRACEPARENT})
    got = lines.wait(2)
    assert sum(line.endswith(f" trace_id={TRACE}") for line in got) == 1
    assert sum("trace_id" not in line for line in got) == 1


def test_nothing_is_logged_when_it_is_off(logged: Callable[..., Running], lines: Lines) -> None:
    running = logged(None)
    assert type(running.server) is HttpServer  # the plain server: no per-request work
    assert httpx.get(f"{running.url}/ping").status_code == 200
    assert lines.wait(1, 0.3) == []


def _raw(running: Running, head: bytes) -> bytes:
    """The status line of the answer to a request ``head`` sent as it is."""
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as sock:
        sock.sendall(head)
        return sock.recv(65536).partition(b"\r\n")[0]


def test_an_http_1_0_request_is_logged_as_such(
    logged: Callable[..., Running], lines: Lines
) -> None:
    running = logged("json")
    assert _raw(running, b"GET /ping HTTP/1.0\r\n\r\n") == b"HTTP/1.1 200 OK"
    assert _raw(running, b"GET /ping HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    got = [orjson.loads(line)["protocol"] for line in lines.wait(2)]
    assert got == ["HTTP/1.0", "HTTP/1.1"]


def test_a_client_cannot_forge_fields_of_its_text_line(
    logged: Callable[..., Running], lines: Lines
) -> None:
    running = logged("text", traced=True)
    assert _raw(running, b'GET /ping" 200 HTTP/1.1\r\nhost: x\r\n\r\n').endswith(b"400 Bad Request")
    assert _raw(running, b'GET /a"b\\c HTTP/1.1\r\nhost: x\r\n\r\n').endswith(b"404 Not Found")
    # A traceparent of 55 characters or more whose "trace id" is not 32 hex digits.
    forged = '00-0123456789abcdef" 200 0 0.1 x="0123456789ab-00f067aa0ba902b7-01'
    zero = f"00-{'0' * 32}-00f067aa0ba902b7-01"  # W3C: an all-zero trace id is invalid
    for traceparent in (forged, zero):
        assert httpx.get(f"{running.url}/ping", headers={"traceparent": traceparent}).is_success
    got = lines.wait(4)
    assert len(got) == 4 and all(line.count('"') == 2 for line in got), got
    assert '"GET /ping\\x22 -" 400 ' in got[0]  # refused before its protocol was read
    assert all(TEXT_LINE.match(line) for line in got[1:]), got
    assert '"GET /a\\x22b\\x5cc HTTP/1.1" 404' in got[1]
    assert all("trace_id" not in line for line in got[2:]), got


def test_a_long_path_is_cut_in_its_line(logged: Callable[..., Running], lines: Lines) -> None:
    running = logged("json")
    text = logged("text")
    for server in (running, text):
        head = b"GET /" + b'"' * 60_000 + b" HTTP/1.1\r\nhost: x\r\n\r\n"
        assert _raw(server, head).endswith(b"404 Not Found")
    entry, line = sorted(lines.wait(2), key=lambda line: not line.startswith("{"))
    assert orjson.loads(entry)["path"] == "/" + '"' * (MAX_LOGGED_PATH - 4) + "..."
    assert len(line) < MAX_LOGGED_PATH * 4 + 200  # \x22 for each '"' of the part kept


#: Requests the connection refuses before a handler sees them (TEST_LIMITS: 64 KiB bodies,
#: 4 KiB heads, 0.6 s to send a head), each with the status it is sent and what its line says.
REFUSED = [
    (b"POST /digest?api_key=sk-x HTTP/1.1\r\nhost: x\r\ncontent-length: 99999\r\n\r\n",
     413, ("POST", "/digest", "HTTP/1.1")),
    (b"POST /digest HTTP/1.0\r\ncontent-length: 99999\r\n\r\n", 413,
     ("POST", "/digest", "HTTP/1.0")),
    (b"GET /ping HTTP/1.1\r\nhost: x\r\nx-big: " + b"y" * 5000 + b"\r\n\r\n", 431,
     ("GET", "/ping", "HTTP/1.1")),
    (b"GET /" + b"p" * 5000 + b" HTTP/1.1\r\nhost: x\r\n\r\n", 414,
     ("GET", "/" + "p" * (MAX_LOGGED_PATH - 4) + "...", None)),
    (b"GET /ping HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n",
     400, ("GET", "/ping", "HTTP/1.1")),
    (b"\x01\x02 nonsense\r\n\r\n", 400, (None, None, None)),
    (b"GET /ping HTTP/1.1\r\nhost: x\r\n", 408, ("GET", "/ping", "HTTP/1.1")),
]  # fmt: skip


def test_requests_refused_while_read_are_logged_with_the_status_sent(
    logged: Callable[..., Running], lines: Lines
) -> None:
    running = logged("json", limits=TEST_LIMITS)
    for head, status, _ in REFUSED:  # the 408: cut 0.6-1.1 s later, by the sweeper
        assert _raw(running, head).split(b" ")[1] == str(status).encode()
    got = [orjson.loads(line) for line in lines.wait(len(REFUSED))]
    assert len(got) == len(REFUSED), got
    for entry, (_, status, request) in zip(got, REFUSED, strict=True):
        assert entry["status"] == status and entry["bytes"] > 0, entry
        assert (entry["method"], entry["path"], entry["protocol"]) == request, entry
        assert entry["client"].startswith("127.0.0.1:") and entry["trace_id"] is None
    assert "sk-" not in str(got)  # the query string of a refused request is left out too


def test_a_refused_text_line_writes_dashes_for_what_was_not_read(
    logged: Callable[..., Running], lines: Lines
) -> None:
    running = logged("text", limits=TEST_LIMITS)
    assert _raw(running, b"\x01\x02 nonsense\r\n\r\n").endswith(b"400 Bad Request")
    (line,) = lines.wait(1)
    assert re.search(r' 127\.0\.0\.1:\d+ "- - -" 400 \d+ \d+\.\d{3}$', line), line


def test_connections_refused_by_the_server_are_logged(
    logged: Callable[..., Running], lines: Lines
) -> None:
    """Over ``limits.max_connections``: 503 before any request is read; during the drain: 503
    to the head of a connection accepted meanwhile."""
    running = logged("json", limits=LimitSettings(max_connections=1))
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as held:
        held.sendall(b"GET /ping HTTP/1.1\r\nhost: x\r\n\r\n")
        assert held.recv(65536).startswith(b"HTTP/1.1 200")
        assert _raw(running, b"GET /ping HTTP/1.1\r\nhost: x\r\n\r\n").endswith(
            b" 503 Service Unavailable"
        )
    asyncio.run_coroutine_threadsafe(running.server.drain(5.0), running.loop).result(10)
    assert _raw(running, b"GET /late HTTP/1.1\r\nhost: x\r\n\r\n").split(b" ")[1] == b"503"
    got = [orjson.loads(line) for line in lines.wait(3)]
    assert [(e["method"], e["path"], e["status"]) for e in got] == [
        ("GET", "/ping", 200), (None, None, 503), ("GET", "/late", 503)
    ], got  # fmt: skip
    assert all(e["bytes"] > 0 for e in got[1:])


def test_nothing_is_logged_of_refusals_when_it_is_off(
    logged: Callable[..., Running], lines: Lines
) -> None:
    running = logged(None, limits=TEST_LIMITS)
    for head, status, _ in REFUSED:
        assert _raw(running, head).split(b" ")[1] == str(status).encode()
    asyncio.run_coroutine_threadsafe(running.server.drain(1.0), running.loop).result(10)
    assert _raw(running, b"GET /late HTTP/1.1\r\nhost: x\r\n\r\n").split(b" ")[1] == b"503"
    assert lines.wait(1, 0.3) == []
