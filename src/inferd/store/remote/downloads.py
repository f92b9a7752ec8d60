"""Blob downloads into the local store: streamed, resumed after interruptions, verified.

A blob is written to a temporary file inside ``blobs/sha256`` and renamed to its digest only
after every byte hashed to it, so an interrupted or corrupt download is never visible. When the
connection drops mid-body, the download continues from the bytes already written with an HTTP
``Range`` request (a registry that ignores the range gets the blob again from the start); after
the configured number of attempts it fails with :class:`~inferd.errors.Unavailable` and the
temporary file is removed.

A registry decides how large a blob claims to be, so sizes are bounded before a byte is written
(:func:`check_room`): each declared size by ``max_blob_bytes`` (``INFERD_MAX_BLOB_BYTES``), and
all of a pull together by the free space of the store's filesystem less ``min_free_bytes``.
While streaming, bytes are counted against the declared size (itself within the cap): a
registry that sends more is cut off and the temporary file removed. Each refusal is
:class:`~inferd.errors.PayloadTooLarge` (HTTP 413 on the control plane).
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterable
from pathlib import Path

import httpx

from inferd.errors import IntegrityError, PayloadTooLarge, Unavailable
from inferd.store.atomic import staged
from inferd.store.blobs import BlobStore, sha256_digest
from inferd.store.manifest import Descriptor
from inferd.store.progress import Count
from inferd.store.remote.cancel import Cancellation
from inferd.store.remote.settings import MAX_BLOB_ENV, RegistrySettings
from inferd.store.remote.transport import RegistryHttp, transport_problem


def check_room(
    settings: RegistrySettings, directory: Path, descriptors: Iterable[Descriptor]
) -> None:
    """Raise :class:`PayloadTooLarge` unless every blob is within the cap and all fit on disk."""
    total = 0
    for descriptor in descriptors:
        if descriptor.size > settings.max_blob_bytes:
            raise PayloadTooLarge(
                f"blob {descriptor.digest} declares {descriptor.size} bytes, more than the "
                f"{settings.max_blob_bytes} allowed ({MAX_BLOB_ENV}); refusing to download it"
            )
        total += descriptor.size
    free = shutil.disk_usage(directory).free
    if total + settings.min_free_bytes > free:
        raise PayloadTooLarge(
            f"downloading {total} bytes would leave less than {settings.min_free_bytes} bytes "
            f"free in the store ({free} free); free space (inferd gc --max-size) and retry"
        )


def download_blob(
    http: RegistryHttp,
    repo: str,
    descriptor: Descriptor,
    blobs: BlobStore,
    *,
    cancellation: Cancellation,
    progress: Count | None = None,
) -> int | None:
    """Fetch ``descriptor`` from ``repo`` into ``blobs``; return the bytes received.

    A blob already in the store is not fetched and None is returned (a failed pull removes
    the blobs it stored, never one that was there). A declared size beyond the cap or the free
    space, or more bytes than declared, raise :class:`PayloadTooLarge`; bytes hashing to
    another digest raise :class:`IntegrityError`; ``cancellation`` set raises
    :class:`~inferd.errors.Cancelled` as soon as the next bytes arrive (or at once, when the
    registry sends none).
    """
    digest, size = descriptor.digest, descriptor.size
    if blobs.exists(digest):
        return None
    blobs.directory.mkdir(parents=True, exist_ok=True)
    check_room(http.settings, blobs.directory, [descriptor])
    received = 0
    with staged(blobs.directory, mode=0o444) as stage:
        hasher = hashlib.sha256()
        written = 0
        attempt = 0

        def restart() -> None:
            nonlocal hasher, written
            stage.handle.seek(0)
            stage.handle.truncate()
            if progress is not None:
                progress(-written)
            hasher, written = hashlib.sha256(), 0

        # One request, then more only while bytes are missing (a drop after the last byte
        # needs none: verification decides).
        while written < size or not written:
            cancellation.check()
            headers = {"Range": f"bytes={written}-"} if written else None
            try:
                with http.stream(
                    "GET",
                    f"/v2/{repo}/blobs/{digest}",
                    what=f"blob {digest}",
                    ok=frozenset({200, 206}),
                    headers=headers,
                    pause=cancellation.sleep,
                ) as response:
                    if written and response.status_code == 200:
                        restart()  # the registry ignored the range: this body is the whole blob
                    elif written and not response.headers.get("Content-Range", "").startswith(
                        f"bytes {written}-"
                    ):
                        restart()  # another range than asked for: ask again, from byte 0
                        continue
                    _check_length(response, size, written, digest)
                    # Network-sized pieces: whatever arrived before a drop is kept for resuming.
                    with cancellation.watching(response):
                        for chunk in response.iter_bytes():
                            cancellation.check()
                            hasher.update(chunk)
                            if written + len(chunk) > size:
                                # Longer than declared: cut off before it can fill the disk.
                                raise PayloadTooLarge(_longer(digest, size))
                            stage.handle.write(chunk)
                            written += len(chunk)
                            received += len(chunk)
                            if progress is not None:
                                progress(len(chunk))
                break
            except httpx.TransportError as exc:
                cancellation.check()  # the cancelling thread shut the connection down
                attempt += 1
                if attempt >= http.settings.attempts:
                    raise Unavailable(
                        f"registry {http.registry} kept dropping the download of {digest}: "
                        f"{transport_problem(exc, http.registry)}"
                    ) from None
                cancellation.sleep(http.settings.backoff_s * 2 ** (attempt - 1))
        actual = sha256_digest(hasher)
        if actual != digest:
            raise IntegrityError(digest, actual)
        stage.commit(blobs.path(digest))
    return received


def _longer(digest: str, size: int) -> str:
    return f"the registry sent more than the {size} bytes blob {digest} declares; aborted"


def _check_length(response: httpx.Response, size: int, written: int, digest: str) -> None:
    """Refuse a body whose ``Content-Length`` already announces more than is left to read."""
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and written + int(length) > size:
        raise PayloadTooLarge(_longer(digest, size))
