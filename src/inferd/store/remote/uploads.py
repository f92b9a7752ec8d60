"""Blob uploads: skip what exists, mount what the registry holds elsewhere, upload the rest.

For each blob, in order of cost:

1. ``HEAD /v2/<repo>/blobs/<digest>``: the repository has it already -> nothing to send;
2. ``POST /v2/<repo>/blobs/uploads/?mount=<digest>&from=<other>``: the same registry holds it in
   another repository inferd pushed to or pulled from -> ``201``, nothing to send (a registry that
   declines answers ``202`` with an upload session, used for step 3);
3. an upload session: one ``PUT …?digest=`` with the whole blob when it is at most
   ``monolithic_max`` bytes, else ``PATCH`` chunks of ``chunk_size`` read from disk one at a time
   (``Content-Range``), closed by an empty ``PUT …?digest=``. The registry verifies the digest.

A dropped connection or a 5xx in the middle restarts the blob with a new session (a partial
upload is never committed: the registry only accepts a PUT whose bytes match the digest).
Bodies are sent in pieces of :data:`PIECE` bytes, the transfer's
:class:`~inferd.store.remote.cancel.Cancellation` checked before each.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from pathlib import Path

import httpx

from inferd.errors import Unavailable
from inferd.store.manifest import Descriptor
from inferd.store.progress import Count
from inferd.store.remote.cancel import Cancellation
from inferd.store.remote.transport import RegistryHttp

CREATED = frozenset({201})
ACCEPTED = frozenset({202})
#: Bytes handed to the connection between two checks of the cancellation: small enough that a
#: slow registry still takes them in well under a second.
PIECE = 64 * 1024


class Outcome(enum.Enum):
    """How a blob reached the registry."""

    EXISTED = "existed"
    MOUNTED = "mounted"
    UPLOADED = "uploaded"


def _session(
    http: RegistryHttp, repo: str, digest: str, mount_from: str | None, cancellation: Cancellation
) -> str | None:
    """Start an upload session and return its URL, or None if the blob was mounted."""
    params = {"mount": digest, "from": mount_from} if mount_from else None
    response = http.request(
        "POST",
        f"/v2/{repo}/blobs/uploads/",
        what=f"an upload to {repo}",
        ok=CREATED | ACCEPTED,
        params=params,
        pause=cancellation.sleep,
    )
    if response.status_code == 201:
        return None
    location = response.headers.get("Location")
    if not location:
        raise Unavailable(f"registry {http.registry} started an upload without a Location")
    return str(response.request.url.join(location))


def _with_digest(location: str, digest: str) -> httpx.URL:
    return httpx.URL(location).copy_merge_params({"digest": digest})


class _Pieces:
    """``data`` in pieces of :data:`PIECE` bytes, the cancellation checked before each.

    Iterable again from the start (not a generator, which httpx sends once): a request the
    registry answers 401, as it does when a token expires in the middle of a long push, is
    sent again with a fresh token by :class:`~inferd.store.remote.auth.RegistryAuth`.
    """

    def __init__(self, data: bytes, cancellation: Cancellation) -> None:
        self._data, self._cancellation = data, cancellation

    def __iter__(self) -> Iterator[bytes]:
        for start in range(0, len(self._data), PIECE):
            self._cancellation.check()
            yield self._data[start : start + PIECE]


def _body(data: bytes) -> dict[str, str]:
    """Headers of a body sent in pieces: its length is announced (not chunked encoding)."""
    return {"Content-Type": "application/octet-stream", "Content-Length": str(len(data))}


def _send(
    http: RegistryHttp,
    location: str,
    source: Path,
    descriptor: Descriptor,
    *,
    sent: Count,
    cancellation: Cancellation,
) -> None:
    digest, size = descriptor.digest, descriptor.size
    what = f"the upload of {digest}"
    if size <= http.settings.monolithic_max:
        data = source.read_bytes()
        http.request(
            "PUT", _with_digest(location, digest), what=what, ok=CREATED,
            headers=_body(data), content=_Pieces(data, cancellation), retry=False,
        )  # fmt: skip
        sent(len(data))
        return
    offset = 0
    with source.open("rb") as handle:
        while chunk := handle.read(http.settings.chunk_size):
            headers = {**_body(chunk), "Content-Range": f"{offset}-{offset + len(chunk) - 1}"}
            response = http.request(
                "PATCH", location, what=what, ok=ACCEPTED,
                headers=headers, content=_Pieces(chunk, cancellation), retry=False,
            )  # fmt: skip
            location = str(response.request.url.join(response.headers.get("Location", location)))
            offset += len(chunk)
            sent(len(chunk))
    http.request("PUT", _with_digest(location, digest), what=what, ok=CREATED, retry=False)


def upload_blob(
    http: RegistryHttp,
    repo: str,
    descriptor: Descriptor,
    source: Path,
    *,
    cancellation: Cancellation,
    mount_from: str | None = None,
    progress: Count | None = None,
) -> Outcome:
    """Make ``descriptor`` (whose bytes are the file ``source``) exist in ``repo``;
    ``cancellation`` set raises :class:`~inferd.errors.Cancelled` before the next piece."""
    if _exists(http, repo, descriptor.digest, cancellation):
        return Outcome.EXISTED
    attempts = http.settings.attempts
    for attempt in range(1, attempts + 1):
        sent = 0

        def count(n: int) -> None:
            nonlocal sent
            sent += n
            if progress is not None:
                progress(n)

        try:
            location = _session(http, repo, descriptor.digest, mount_from, cancellation)
            if location is None:
                return Outcome.MOUNTED
            _send(http, location, source, descriptor, sent=count, cancellation=cancellation)
            return Outcome.UPLOADED
        except Unavailable:
            if progress is not None:
                progress(-sent)
            if attempt == attempts:
                raise
            cancellation.sleep(http.settings.backoff_s * 2 ** (attempt - 1))
    raise AssertionError("unreachable: the last attempt returns or raises")


def _exists(http: RegistryHttp, repo: str, digest: str, cancellation: Cancellation) -> bool:
    response = http.request(
        "HEAD", f"/v2/{repo}/blobs/{digest}", what=f"blob {digest}",
        ok=frozenset({200, 404}), pause=cancellation.sleep,
    )  # fmt: skip
    return response.status_code == 200
