"""The OCI distribution-spec endpoints inferd uses, over one :class:`RegistryHttp`.

Manifests, tags and referrers live here; blob transfers, which stream and resume, are
:mod:`inferd.store.remote.uploads` and :mod:`inferd.store.remote.downloads`. Every manifest or
small blob read from a registry is hashed before it is returned: a registry that answers bytes
other than the digest names raises :class:`~inferd.errors.IntegrityError`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import httpx
import orjson

from inferd.errors import IntegrityError, NotFound, PayloadTooLarge, Unsupported
from inferd.reference import DIGEST_RE
from inferd.store import media
from inferd.store.manifest import MAX_DOCUMENT_BYTES
from inferd.store.remote.transport import RegistryHttp

#: What inferd asks for when it GETs a manifest (it reads only OCI manifests, lists the rest).
MANIFEST_ACCEPT = ", ".join((
    media.MANIFEST,
    media.INDEX,
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
))  # fmt: skip
OK = frozenset({200})
OK_OR_MISSING = frozenset({200, 404})
#: Tags asked for per page; registries may answer fewer and link to the next page.
TAGS_PAGE = 1000
#: Pages of a tag list followed before giving up (a registry answering Link forever).
MAX_TAG_PAGES = 1000


def digest_of(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def _shown(repo: str, reference: str) -> str:
    """``repo:tag``, or ``repo@sha256:…`` for a digest: a reference as users write it."""
    return f"{repo}@{reference}" if DIGEST_RE.fullmatch(reference) else f"{repo}:{reference}"


@dataclass(frozen=True, slots=True)
class RemoteManifest:
    """Manifest bytes verified against ``digest``, with the media type the registry named."""

    digest: str
    data: bytes
    media_type: str

    def document(self) -> dict[str, Any]:
        try:
            value = orjson.loads(self.data)
        except orjson.JSONDecodeError:
            raise Unsupported(f"manifest {self.digest} is not JSON") from None
        if not isinstance(value, dict):
            raise Unsupported(f"manifest {self.digest} is not a JSON object")
        return value


def _read_limited(response: httpx.Response, limit: int, what: str) -> bytes:
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"{what} is larger than {limit} bytes")
    return bytes(body)


class RegistryClient:
    """Manifests, tags, referrers and small blobs of one registry."""

    def __init__(self, http: RegistryHttp) -> None:
        self.http = http

    @property
    def registry(self) -> str:
        return self.http.registry

    def ping(self) -> None:
        """``GET /v2/``: the registry speaks the distribution API and accepts our credentials."""
        self.http.request("GET", "/v2/", what="the API check /v2/", ok=OK)

    def read_blob(self, repo: str, digest: str, *, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
        """A small blob (a model card) in memory, verified against ``digest``."""
        what = f"blob {digest} of {repo}"
        with self.http.stream("GET", f"/v2/{repo}/blobs/{digest}", what=what, ok=OK) as response:
            data = _read_limited(response, limit, what)
        actual = digest_of(data)
        if actual != digest:
            raise IntegrityError(digest, actual)
        return data

    def get_manifest(self, repo: str, reference: str) -> RemoteManifest:
        """The manifest tagged ``reference`` (a tag or a digest), verified.

        By digest, the bytes must hash to it; by tag, to the ``Docker-Content-Digest`` the
        registry announces, when it announces one.
        """
        what = f"manifest {_shown(repo, reference)}"
        with self.http.stream(
            "GET",
            f"/v2/{repo}/manifests/{reference}",
            what=what,
            ok=OK_OR_MISSING,
            headers={"Accept": MANIFEST_ACCEPT},
        ) as response:
            if response.status_code == 404:
                raise NotFound(
                    f"{self.registry}/{_shown(repo, reference)} not found in the registry"
                )
            data = _read_limited(response, MAX_DOCUMENT_BYTES, what)
            announced = response.headers.get("Docker-Content-Digest")
            media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        actual = digest_of(data)
        expected = reference if DIGEST_RE.fullmatch(reference) else announced
        if expected is not None and actual != expected:
            raise IntegrityError(expected, actual)
        return RemoteManifest(actual, data, media_type)

    def put_manifest(self, repo: str, reference: str, data: bytes, media_type: str) -> str:
        """Upload a manifest under a tag or its digest; return the digest, checked."""
        digest = digest_of(data)
        response = self.http.request(
            "PUT",
            f"/v2/{repo}/manifests/{reference}",
            what=f"manifest {_shown(repo, reference)}",
            ok=frozenset({201}),
            headers={"Content-Type": media_type},
            content=data,
        )
        announced = response.headers.get("Docker-Content-Digest")
        if announced is not None and announced != digest:
            raise IntegrityError(digest, announced)
        return digest

    def tags(self, repo: str, *, page_size: int = TAGS_PAGE) -> list[str]:
        """Every tag of ``repo``, following ``Link: <…>; rel="next"`` pagination."""
        found: list[str] = []
        params: dict[str, str] = {"n": str(page_size)}
        for _ in range(MAX_TAG_PAGES):
            response = self.http.request(
                "GET",
                f"/v2/{repo}/tags/list",
                what=f"tags of {repo}",
                ok=OK_OR_MISSING,
                params=params,
            )
            if response.status_code == 404:
                raise NotFound(f"repository {self.registry}/{repo} not found in the registry")
            document = self._json(response.content, f"the tags of {repo}")
            page = document.get("tags") if isinstance(document, dict) else None
            found.extend(t for t in page or [] if isinstance(t, str))
            following = response.links.get("next", {}).get("url")
            if not following:
                return sorted(set(found))
            params = dict(parse_qsl(httpx.URL(following).query.decode()))
        raise Unsupported(f"registry {self.registry} paginated tags of {repo} without end")

    def _json(self, data: bytes, what: str) -> Any:
        """``data`` parsed; a body that is not JSON (a web server's page) is Unsupported."""
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            raise Unsupported(
                f"registry {self.registry} answered {what} with something other than JSON; is "
                "it an OCI registry?"
            ) from None

    def referrers(self, repo: str, digest: str) -> list[dict[str, Any]]:
        """Descriptors of artifacts whose ``subject`` is ``digest`` (signatures, SBOMs…).

        Uses the referrers API where the registry offers it, else the spec's fallback: an index
        tagged ``sha256-<hex>``. A registry offering neither has no referrers to show.
        """
        response = self.http.request(
            "GET",
            f"/v2/{repo}/referrers/{digest}",
            what=f"referrers of {digest}",
            ok=OK_OR_MISSING,
            headers={"Accept": media.INDEX},
        )
        if response.status_code == 200:
            data = response.content
        else:
            try:
                data = self.get_manifest(repo, digest.replace(":", "-")).data
            except NotFound:
                return []
        document = self._json(data, f"the referrers of {digest}")
        manifests = document.get("manifests") if isinstance(document, dict) else None
        return [m for m in manifests or [] if isinstance(m, dict)]
