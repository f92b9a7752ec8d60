"""Blob downloads into the local store: streamed, resumed after interruptions, verified.

A blob is written to a temporary file inside ``blobs/sha256`` and renamed to its digest only
after every byte hashed to it, so an interrupted or corrupt download is never visible. When the
connection drops mid-body, the download continues from the bytes already written with an HTTP
``Range`` request (a registry that ignores the range gets the blob again from the start); after
the configured number of attempts it fails with :class:`~inferd.errors.Unavailable` and the
temporary file is removed.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

import httpx

from inferd.errors import IntegrityError, Unavailable
from inferd.store.atomic import staged
from inferd.store.blobs import BlobStore, sha256_digest
from inferd.store.manifest import Descriptor
from inferd.store.remote.transport import RegistryHttp

Progress = Callable[[int], None]
"""Called with bytes just received (negative when a restarted download discards bytes)."""


def download_blob(
    http: RegistryHttp,
    repo: str,
    descriptor: Descriptor,
    blobs: BlobStore,
    progress: Progress | None = None,
) -> int:
    """Fetch ``descriptor`` from ``repo`` into ``blobs``; return the bytes received.

    A blob already in the store is not fetched (0 is returned). More bytes than the
    descriptor's size, or bytes hashing to another digest, raise :class:`IntegrityError`.
    """
    digest, size = descriptor.digest, descriptor.size
    if blobs.exists(digest):
        return 0
    blobs.directory.mkdir(parents=True, exist_ok=True)
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
            headers = {"Range": f"bytes={written}-"} if written else None
            try:
                with http.stream(
                    "GET",
                    f"/v2/{repo}/blobs/{digest}",
                    what=f"blob {digest}",
                    ok=frozenset({200, 206}),
                    headers=headers,
                ) as response:
                    if written and response.status_code == 200:
                        restart()  # the registry ignored the range: this body is the whole blob
                    elif written and not response.headers.get("Content-Range", "").startswith(
                        f"bytes {written}-"
                    ):
                        restart()  # another range than asked for: ask again, from byte 0
                        continue
                    # Network-sized pieces: whatever arrived before a drop is kept for resuming.
                    for chunk in response.iter_bytes():
                        hasher.update(chunk)
                        if written + len(chunk) > size:
                            # Longer than announced: refuse before it can fill the disk.
                            raise IntegrityError(digest, sha256_digest(hasher))
                        stage.handle.write(chunk)
                        written += len(chunk)
                        received += len(chunk)
                        if progress is not None:
                            progress(len(chunk))
                break
            except httpx.TransportError as exc:
                attempt += 1
                if attempt >= http.settings.attempts:
                    raise Unavailable(
                        f"registry {http.registry} kept dropping the download of {digest} "
                        f"({type(exc).__name__})"
                    ) from None
                time.sleep(http.settings.backoff_s * 2 ** (attempt - 1))
        actual = sha256_digest(hasher)
        if actual != digest:
            raise IntegrityError(digest, actual)
        stage.commit(blobs.path(digest))
    return received
