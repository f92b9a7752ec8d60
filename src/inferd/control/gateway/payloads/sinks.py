"""Where payload events go: a rotated JSONL file, or an HTTP endpoint receiving CloudEvents.

A sink delivers a batch of payloads or raises; the writer (:mod:`.writer`) counts the outcome.
``workers`` says how many batches it may have in delivery at once, ``batch`` how many payloads
one delivery takes.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Protocol

import httpx

from inferd.control.gateway.payloads.events import (
    Payload,
    binary_message,
    json_line,
    structured_message,
)
from inferd.control.gateway.payloads.rotating import RotatingFile
from inferd.spec.observability import FileSinkSpec, HttpSinkSpec

#: Deliveries an HTTP sink has in flight at once (each one event).
HTTP_WORKERS = 4
#: Payloads the file sink writes in one go (one thread hop).
FILE_BATCH = 256


class SinkFailed(Exception):
    """A delivery did not succeed (the message says why, for the log)."""


class Sink(Protocol):
    workers: int
    batch: int

    async def deliver(self, payloads: list[Payload]) -> None:
        """Deliver ``payloads`` or raise (any exception counts them as failed)."""
        ...

    async def close(self) -> None: ...


class FileSink:
    """JSON lines (structured-mode CloudEvents), written from a worker thread."""

    workers = 1
    batch = FILE_BATCH

    def __init__(self, spec: FileSinkSpec, directory: Path) -> None:
        self.file = RotatingFile(directory / spec.path, spec.max_bytes, spec.max_files)

    async def deliver(self, payloads: list[Payload]) -> None:
        await asyncio.to_thread(self._write, payloads)

    def _write(self, payloads: list[Payload]) -> None:
        self.file.write([json_line(p) for p in payloads])

    async def close(self) -> None:
        await asyncio.to_thread(self.file.close)


class HttpSink:
    """One POST per event, in binary or structured content mode; a 2xx answer is delivery."""

    workers = HTTP_WORKERS
    batch = 1

    def __init__(self, spec: HttpSinkSpec) -> None:
        self.url = spec.url
        self.encode = binary_message if spec.encoding == "binary" else structured_message
        self._client = httpx.AsyncClient(
            timeout=spec.timeout,
            trust_env=False,
            limits=httpx.Limits(max_connections=HTTP_WORKERS),
        )

    async def deliver(self, payloads: list[Payload]) -> None:
        for payload in payloads:
            message = self.encode(payload)
            try:
                response = await self._client.post(
                    self.url, content=message.body, headers=message.headers
                )
            except httpx.HTTPError as exc:
                raise SinkFailed(f"{self.url}: {type(exc).__name__} {exc}".rstrip()) from None
            if not response.is_success:
                raise SinkFailed(f"{self.url} answered {response.status_code}")

    async def close(self) -> None:
        await self._client.aclose()


def make_sink(file: FileSinkSpec | None, http: HttpSinkSpec | None, directory: Path) -> Sink:
    """The sink a spec names (the spec holds exactly one)."""
    if file is not None:
        return FileSink(file, directory)
    assert http is not None, "the spec names exactly one sink"
    return HttpSink(http)
