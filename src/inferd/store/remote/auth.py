"""Registry authentication the way docker does it: Basic, or the Bearer token flow.

A request first goes out with whatever worked last for its repository and action (so large
uploads are not sent twice). A ``401`` carries a challenge:

- ``Basic realm=…``: the request is retried with the stored username and password;
- ``Bearer realm=…,service=…,scope=…``: a token is fetched with ``GET realm?service=…&scope=…``
  (Basic-authenticated when credentials are stored, anonymously otherwise), then the request is
  retried with ``Authorization: Bearer <token>``. The realm is checked first (``check_realm``
  raises for one the registry may not send credentials to), so no request reaches a realm
  that fails the check.

A second ``401`` is returned to the caller, which turns it into
:class:`~inferd.errors.Unauthenticated` telling the user to ``inferd login``. Request bodies are
in-memory bytes, or iterables over them that iterate again from the start (uploads), so a
retried request is sent unchanged: a token that expires in the middle of a long push is
replaced and the refused upload sent again.
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Callable, Generator

import httpx
import orjson

from inferd.errors import Unsupported
from inferd.store.remote.credentials import Credentials

RealmCheck = Callable[[httpx.URL], None]
"""Raises for a token realm that must not be asked (and must not see credentials)."""

_PARAM = re.compile(r'([A-Za-z_]+)="([^"]*)"')
_REPO_PATH = re.compile(r"^/v2/(.+?)/(?:blobs|manifests|tags|referrers)/")


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="r",service="s"`` -> ``("bearer", {"realm": "r", "service": "s"})``."""
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(_PARAM.findall(rest))


def _scope_key(request: httpx.Request) -> str:
    """Repository and access class of a request: what a cached Authorization header fits."""
    match = _REPO_PATH.match(request.url.path)
    repository = match.group(1) if match else ""
    reading = request.method in ("GET", "HEAD")
    return f"{repository}:{'pull' if reading else 'push'}"


class RegistryAuth(httpx.Auth):
    """An :class:`httpx.Auth` for one registry host; thread-safe (transfers run in a pool)."""

    def __init__(self, credentials: Credentials | None, check_realm: RealmCheck) -> None:
        self._credentials = credentials
        self._check_realm = check_realm
        self._lock = threading.Lock()
        self._headers: dict[str, str] = {}
        self._tokens: dict[tuple[str, ...], str] = {}
        self._fetching: dict[tuple[str, ...], threading.Lock] = {}

    def _basic(self) -> str | None:
        if self._credentials is None:
            return None
        pair = f"{self._credentials.username}:{self._credentials.password}".encode()
        return "Basic " + base64.b64encode(pair).decode()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        key = _scope_key(request)
        with self._lock:
            cached = self._headers.get(key)
        if cached is not None:
            request.headers["Authorization"] = cached
        response = yield request
        if response.status_code != 401:
            return
        scheme, params = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        header: str | None
        if scheme == "basic":
            header = self._basic()
        elif scheme == "bearer" and "realm" in params:
            header = yield from self._token(params, rejected=cached)
        else:
            header = None
        if header is None or header == cached:
            return
        request.headers["Authorization"] = header
        retried = yield request
        if retried.status_code != 401:
            with self._lock:
                self._headers[key] = header

    def _token(
        self, params: dict[str, str], *, rejected: str | None
    ) -> Generator[httpx.Request, httpx.Response, str | None]:
        """A token for the challenge's scope; one fetch per scope even when threads race.

        A cached token equal to ``rejected`` (it just earned a 401: expired) is fetched anew.
        """
        query = {k: v for k, v in params.items() if k in ("service", "scope")}
        key = (params["realm"], query.get("service", ""), query.get("scope", ""))
        with self._lock:
            fetching = self._fetching.setdefault(key, threading.Lock())
        with fetching:
            with self._lock:
                known = self._tokens.get(key)
            if known is not None and known != rejected:
                return known
            try:
                realm = httpx.URL(params["realm"])
            except httpx.InvalidURL:
                raise Unsupported(f"the token realm {params['realm']!r} is not a URL") from None
            self._check_realm(realm)
            token_request = self._token_request(realm, query)
            response = yield token_request
            response.read()
            header = _bearer(response)
            if header is not None:
                with self._lock:
                    self._tokens[key] = header
            return header

    def _token_request(self, realm: httpx.URL, query: dict[str, str]) -> httpx.Request:
        """``GET realm?service=…&scope=…`` (Basic-authenticated when credentials are stored),
        or with an identity token the OAuth2 refresh-token grant docker sends (``POST realm``,
        form ``grant_type=refresh_token``; the distribution spec's token authentication)."""
        identity = None if self._credentials is None else self._credentials.identity_token
        if identity is not None:
            form = {"grant_type": "refresh_token", "refresh_token": identity}
            return httpx.Request("POST", realm, data={**form, "client_id": "inferd", **query})
        request = httpx.Request("GET", realm, params=query)
        basic = self._basic()
        if basic is not None:
            request.headers["Authorization"] = basic
        return request


def _bearer(response: httpx.Response) -> str | None:
    """``Bearer <token>`` from a token endpoint's answer (``token`` or ``access_token``)."""
    if response.status_code != 200:
        return None
    try:
        document = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict):
        return None
    token = document.get("token") or document.get("access_token")
    return f"Bearer {token}" if isinstance(token, str) and token else None
