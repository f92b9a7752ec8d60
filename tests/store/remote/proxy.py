"""A loopback HTTP proxy in front of a real registry that injects faults into its answers.

It forwards what a pull sends (GET, HEAD) and a push (POST, PUT, PATCH; the registry's upload
locations point back at the proxy) and can, per blob digest: cut the connection in the middle
of the body (a number of times, or always), flip a byte of the body, ignore ``Range`` headers,
move its bytes slowly either way, or stop sending halfway; or answer 503 to the first manifest
requests, or 429 with ``Retry-After`` for a while; or have the registry refuse an upload's
credentials (401), as an expired token. Requests it saw are recorded.
"""

from __future__ import annotations

import contextlib
import http.client
import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

from .serving import serving

_FORWARDED = ("accept", "range", "authorization", "content-type", "content-range", "host")
_HOP = ("connection", "transfer-encoding", "content-length", "keep-alive")
#: A slow transfer moves this many bytes, then waits :data:`_SLOW_PAUSE_S` (about 200 kB/s).
_SLOW_PIECE = 4096
_SLOW_PAUSE_S = 0.02
#: How long a stalled answer keeps its connection open, silent, unless the client hangs up.
_STALL_S = 30.0


@dataclass
class Faults:
    target: str = ""
    """The path fragment (a digest) whose answers are tampered with."""
    drops: int = 0
    """Cut this many answers for ``target`` halfway (-1: every one)."""
    corrupt: bool = False
    ignore_range: bool = False
    unavailable: int = 0
    """Answer 503 to this many manifest requests first."""
    throttle_s: int = 0
    """Rate-limit manifest requests: the first opens a window of this many seconds in which
    each is answered 429 with ``Retry-After: <throttle_s>``, as a registry's rate limiter."""
    throttled_until: float = 0.0
    forbid: bool = False
    """Answer 403 ``DENIED`` to manifest uploads (``PUT``), as a registry does to an account
    that may pull but not push."""
    expire: int = 0
    """Forward this many of the target's uploads (``PUT``) without their ``Authorization``,
    so the registry answers them 401 with its challenge, as when a token expires mid-push."""
    slow: bool = False
    """Move the target's bytes slowly: a download's body as it is sent, an upload's body
    (``PUT …?digest=``) as it is read."""
    stall: bool = False
    """Send half of the target's body, then nothing more, keeping the connection open."""
    moving: threading.Event = field(default_factory=threading.Event)
    """Set once a slow or stalled target's body is on its way (its first bytes sent or read)."""
    seen: list[tuple[str, str, str]] = field(default_factory=list)
    """(method, path, Range header) of every request."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    upstream: str
    faults: Faults
    lock: threading.Lock


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self._forward()

    def do_HEAD(self) -> None:
        self._forward()

    def do_POST(self) -> None:
        self._forward()

    def do_PUT(self) -> None:
        self._forward()

    def do_PATCH(self) -> None:
        self._forward()

    def log_message(self, format: str, *args: object) -> None:
        return

    def _forward(self) -> None:
        faults = self.server.faults
        with self.server.lock:
            faults.seen.append((self.command, self.path, self.headers.get("Range", "")))
            if "/manifests/" in self.path and faults.unavailable > 0:
                faults.unavailable -= 1
                self._answer(503, [], b'{"errors":[{"code":"UNAVAILABLE","message":"busy"}]}')
                return
            if "/manifests/" in self.path and self.command == "PUT" and faults.forbid:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                denied = b'{"errors":[{"code":"DENIED","message":"requested access to the '
                self._answer(403, [], denied + b'resource is denied","detail":null}]}')
                return
            if "/manifests/" in self.path and faults.throttle_s:
                now = time.monotonic()
                if not faults.throttled_until:
                    faults.throttled_until = now + faults.throttle_s
                if now < faults.throttled_until:
                    header = [("Retry-After", str(faults.throttle_s))]
                    self._answer(429, header, b'{"errors":[{"code":"TOOMANYREQUESTS"}]}')
                    return
        targeted = bool(faults.target) and faults.target in unquote(self.path)
        headers = {k: v for k, v in self.headers.items() if k.lower() in _FORWARDED}
        if targeted and faults.ignore_range:
            headers.pop("Range", None)
        if targeted and self.command == "PUT" and faults.expire > 0:
            with self.server.lock:
                faults.expire -= 1
            headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        length = int(self.headers.get("Content-Length", "0"))
        request = self._read_slowly(length) if targeted and faults.slow else self.rfile.read(length)
        if len(request) < length:
            return  # the client hung up mid-upload: nothing to forward
        upstream = http.client.HTTPConnection(self.server.upstream, timeout=10)
        try:
            upstream.request(self.command, self.path, body=request or None, headers=headers)
            response = upstream.getresponse()
            body = response.read()
            answer = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP]
            length = response.getheader("Content-Length", "0")
        finally:
            upstream.close()
        if self.command == "HEAD":
            self._answer(response.status, answer, b"", length=length)
            return
        drop = False
        if targeted:
            with self.server.lock:
                if faults.drops != 0:
                    drop = True
                    faults.drops -= 1 if faults.drops > 0 else 0
            if faults.corrupt and body:
                body = bytes([body[0] ^ 0xFF]) + body[1:]
        if drop:
            self._answer(response.status, answer, body[: len(body) // 2], length=str(len(body)))
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        if targeted and faults.stall:
            self._answer(response.status, answer, body[: len(body) // 2], length=str(len(body)))
            faults.moving.set()
            select.select([self.connection], [], [], _STALL_S)  # until the client hangs up
            self.close_connection = True
            return
        if targeted and faults.slow:
            self._answer(response.status, answer, b"", length=str(len(body)))
            with contextlib.suppress(ConnectionError):  # the client hangs up: the test's point
                for start in range(0, len(body), _SLOW_PIECE):
                    self.wfile.write(body[start : start + _SLOW_PIECE])
                    self.wfile.flush()
                    faults.moving.set()
                    time.sleep(_SLOW_PAUSE_S)
            self.close_connection = True
            return
        self._answer(response.status, answer, body)

    def _read_slowly(self, length: int) -> bytes:
        """Up to ``length`` bytes of the request body, a piece at a time; fewer if the client
        hangs up first."""
        body = bytearray()
        with contextlib.suppress(ConnectionError):
            while len(body) < length:
                piece = self.rfile.read(min(_SLOW_PIECE, length - len(body)))
                if not piece:
                    break
                body += piece
                self.server.faults.moving.set()
                time.sleep(_SLOW_PAUSE_S)
        return bytes(body)

    def _answer(
        self, status: int, headers: list[tuple[str, str]], body: bytes, length: str | None = None
    ) -> None:
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", length if length is not None else str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)
            self.wfile.flush()


@contextmanager
def fault_proxy(upstream: str, faults: Faults) -> Iterator[str]:
    """Run the proxy in front of ``upstream`` (``host:port``); yield its own ``host:port``."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.upstream, server.faults, server.lock = upstream, faults, threading.Lock()
    with serving(server) as address:
        yield address
