"""A minimal async HTTP/1.1 client for loopback calls: readiness probes and demo traffic.

The runtime dependencies carry no HTTP client, and these calls are tiny — one request per
connection (``Connection: close``), a bounded response, a timeout on the whole exchange.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

#: Largest response read; probes and demo answers are a few hundred bytes.
MAX_RESPONSE_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class HttpResult:
    status: int
    body: bytes


async def request(
    host: str,
    port: int,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    content_type: str = "application/json",
    timeout: float = 2.0,
) -> HttpResult:
    """Send one request and read the whole response.

    Raises ``OSError`` (refused, reset) or ``TimeoutError``; a malformed response raises
    ``ValueError``.
    """
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            head = (
                f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            writer.write(head.encode("latin-1") + body)
            data = await reader.read(MAX_RESPONSE_BYTES)
            while chunk := await reader.read(MAX_RESPONSE_BYTES):
                data += chunk
                if len(data) > MAX_RESPONSE_BYTES:
                    raise ValueError("response too large")
        finally:
            writer.close()
    return _parse(data)


def _parse(data: bytes) -> HttpResult:
    head, sep, rest = data.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].split(b" ")
    if not sep or len(status_line) < 2 or not status_line[1].isdigit():
        raise ValueError("not an HTTP response")
    return HttpResult(int(status_line[1]), rest)
