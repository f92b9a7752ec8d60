"""Where payload events go: a rotated JSONL file, or an HTTP endpoint receiving CloudEvents.

A sink delivers a batch of payloads or raises; the writer (:mod:`.writer`) counts the outcome.
``workers`` says how many batches it may have in delivery at once, ``batch`` how many payloads
one delivery takes. File sinks naming the same file (two deployments, or a sink and the one
an apply replaced it with) write it through one :class:`SharedFiles` entry.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

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


@dataclass(eq=False)
class SharedFile:
    """One rotated file and the lock its writers (worker threads) take turns under."""

    file: RotatingFile
    lock: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0

    def write(self, lines: list[bytes]) -> None:
        with self.lock:
            self.file.write(lines)

    def close(self) -> None:
        with self.lock:
            self.file.close()


class SharedFiles:
    """The files the file sinks write, one :class:`SharedFile` per path: sinks naming the same
    file share it, so one's rotation never leaves another writing to a file renamed or deleted
    under it (its events lost while counted delivered). Use on the event loop."""

    def __init__(self) -> None:
        self._files: dict[Path, SharedFile] = {}

    def acquire(self, path: Path, max_bytes: int, max_files: int) -> SharedFile:
        """The file at ``path``; its limits become these (the latest sink's: an apply that
        changed them)."""
        shared = self._files.get(path)
        if shared is None:
            shared = self._files[path] = SharedFile(RotatingFile(path, max_bytes, max_files))
        else:
            with shared.lock:
                shared.file.max_bytes, shared.file.max_files = max_bytes, max_files
        shared.users += 1
        return shared

    def release(self, shared: SharedFile) -> bool:
        """One user fewer; True when it was the last (the caller closes the file)."""
        shared.users -= 1
        if shared.users > 0:
            return False
        if self._files.get(shared.file.path) is shared:
            del self._files[shared.file.path]
        return True


class FileSink:
    """JSON lines (structured-mode CloudEvents), written from a worker thread."""

    workers = 1
    batch = FILE_BATCH

    def __init__(self, spec: FileSinkSpec, directory: Path, files: SharedFiles) -> None:
        self._files = files
        self.file = files.acquire(directory / spec.path, spec.max_bytes, spec.max_files)

    async def deliver(self, payloads: list[Payload]) -> None:
        await asyncio.to_thread(self._write, payloads)

    def _write(self, payloads: list[Payload]) -> None:
        self.file.write([json_line(p) for p in payloads])

    async def close(self) -> None:
        if self._files.release(self.file):
            await asyncio.to_thread(self.file.close)


class HttpSink:
    """One POST per event, in binary or structured content mode; a 2xx answer is delivery."""

    workers = HTTP_WORKERS
    batch = 1

    def __init__(self, spec: HttpSinkSpec) -> None:
        self.url = spec.url
        #: The longest one delivery may take, in all (httpx's own timeout is per read or write,
        #: which a collector sending its answer a byte at a time never reaches).
        self.timeout = spec.timeout
        #: The URL as failures name it in the log: a password in it (basic auth) masked.
        self.shown, self._password = _masked(spec.url)
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
                async with asyncio.timeout(self.timeout):
                    response = await self._client.post(
                        self.url, content=message.body, headers=message.headers
                    )
            except TimeoutError:
                raise SinkFailed(f"{self.shown}: no answer within {self.timeout:g} s") from None
            except httpx.HTTPError as exc:
                why = str(exc).replace(self._password, "***") if self._password else str(exc)
                raise SinkFailed(f"{self.shown}: {type(exc).__name__} {why}".rstrip()) from None
            if not response.is_success:
                raise SinkFailed(f"{self.shown} answered {response.status_code}")

    async def close(self) -> None:
        await self._client.aclose()


def _masked(url: str) -> tuple[str, str]:
    """``url`` with the password of its user information (if any) as ``***``, and the
    password ("" when there is none)."""
    parts = urlsplit(url)
    if not parts.password:
        return url, ""
    user, _, host = parts.netloc.rpartition("@")
    name = user.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{name}:***@{host}")), parts.password


def make_sink(
    file: FileSinkSpec | None, http: HttpSinkSpec | None, directory: Path, files: SharedFiles
) -> Sink:
    """The sink a spec names (the spec holds exactly one); file sinks write through ``files``."""
    if file is not None:
        return FileSink(file, directory, files)
    assert http is not None, "the spec names exactly one sink"
    return HttpSink(http)
