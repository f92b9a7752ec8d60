"""A tiny registry the tests script: it answers what they put in it and records every request.

Unlike the real registry (:mod:`.registry`) it can lie: serve a blob longer than its manifest
declares, with or without a ``Content-Length``. With nothing in it, it is a canary: a test
asserts that nothing ever reached it.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .serving import serving

_MANIFEST = re.compile(r"^/v2/.+/manifests/(?P<ref>[^/]+)$")
_BLOB = re.compile(r"^/v2/.+/blobs/(?P<digest>[^/]+)$")
_CHUNK = 64 * 1024


class FakeRegistry(ThreadingHTTPServer):
    daemon_threads = True
    manifests: dict[str, tuple[bytes, str, str]]
    """Tag or digest -> (bytes, media type, digest)."""
    blobs: dict[str, bytes]
    chunked: bool
    """Send blobs with ``Transfer-Encoding: chunked`` (no length announced)."""
    hits: list[str]

    @property
    def host(self) -> str:
        host, port = self.socket.getsockname()[:2]
        return f"{host}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeRegistry
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.server.hits.append(self.path)
        manifest, blob = _MANIFEST.match(self.path), _BLOB.match(self.path)
        if self.path == "/v2/":
            self._answer(b"{}", "application/json")
        elif manifest and manifest["ref"] in self.server.manifests:
            data, media_type, digest = self.server.manifests[manifest["ref"]]
            self._answer(data, media_type, {"Docker-Content-Digest": digest})
        elif blob and blob["digest"] in self.server.blobs:
            self._blob(self.server.blobs[blob["digest"]])
        else:
            self._answer(b"", "text/plain", status=404)

    def _answer(
        self, data: bytes, media_type: str, headers: dict[str, str] | None = None, status: int = 200
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _blob(self, data: bytes) -> None:
        if not self.server.chunked:
            with contextlib.suppress(ConnectionError):
                self._answer(data, "application/octet-stream")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        with contextlib.suppress(ConnectionError):  # the client hangs up once it has enough
            for start in range(0, len(data), _CHUNK):
                piece = data[start : start + _CHUNK]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")

    def log_message(self, format: str, *args: object) -> None:
        return


@contextlib.contextmanager
def fake_registry(address: str = "127.0.0.1", port: int = 0) -> Iterator[FakeRegistry]:
    """Run an empty :class:`FakeRegistry` on ``address:port`` (0: a free port)."""
    server = FakeRegistry((address, port), _Handler)
    server.manifests, server.blobs, server.chunked, server.hits = {}, {}, False, []
    with serving(server):
        yield server
