"""HTTP to one registry host: TLS, auth, redirect checks, retries, and errors users can act on.

Every request the remote client makes goes through :class:`RegistryHttp`, which

- speaks HTTPS, verified against the system trust store or ``INFERD_REGISTRY_CA``; plain HTTP
  only for hosts marked insecure, and never after a redirect from a host that is not. A
  loopback registry (``localhost``, 127.0.0.0/8, ``[::1]``) is insecure by default, as for
  docker: HTTPS first, and plain HTTP if it answers the TLS handshake with plain HTTP;
- with a :class:`RegistryPolicy` (servers), sends every request, redirect hops and token realms
  included, only to addresses the policy vetted (:mod:`inferd.store.remote.pinning`);
- sends credentials (a token request) only to a token realm on the registry's own host or on
  the allowlist (``INFERD_ALLOWED_REGISTRIES``);
- retries 5xx, 429 and dropped connections with exponential backoff, for requests that are safe
  to repeat; uploads restart a blob instead (:mod:`inferd.store.remote.uploads`);
- maps answers to the one exception tree: 401/403 -> :class:`Unauthenticated` naming
  ``inferd login HOST``; unreachable -> :class:`Unavailable` naming the host.
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Required, TypedDict, Unpack

import httpx
import orjson

from inferd import __version__
from inferd.errors import (
    InvalidArgument,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
    Unsupported,
)
from inferd.store.remote import credentials
from inferd.store.remote.auth import RegistryAuth
from inferd.store.remote.pinning import PinnedTransport
from inferd.store.remote.policy import join_host, split_host
from inferd.store.remote.settings import ALLOWED_ENV, CA_ENV, INSECURE_ENV, RegistrySettings

log = logging.getLogger(__name__)

#: Statuses worth another try: the registry or something in front of it is overloaded.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: The longest ``Retry-After`` waited for; a registry asking for more fails the request at once.
MAX_RETRY_AFTER_S = 60.0
_MAX_ERROR_TEXT = 200


class Send(TypedDict, total=False):
    """How :meth:`RegistryHttp.stream` and :meth:`RegistryHttp.request` send a request."""

    #: What the request is for, as error messages name it (``f"manifest {repo}:{tag}"``).
    what: Required[str]
    #: The statuses that are an answer; any other raises.
    ok: Required[frozenset[int]]
    headers: Mapping[str, str] | None
    params: Mapping[str, str] | None
    #: A body; an iterable is sent piece by piece (with its ``Content-Length`` in ``headers``):
    #: one that can be iterated again (not a generator) is sent again after a 401 challenge.
    content: bytes | Iterable[bytes] | None
    #: Retry dropped connections and :data:`RETRY_STATUSES` (default); off for requests that
    #: are not safe to repeat.
    retry: bool
    #: Waits between attempts (default ``time.sleep``); a transfer passes its cancellation's,
    #: so that Ctrl-C ends a long ``Retry-After`` wait at once.
    pause: Callable[[float], None]


class Dropped(Unavailable):
    """The connection failed or broke; the request may be repeated from the start."""


def transport_problem(exc: httpx.TransportError, host: str) -> str:
    """Why a request got no answer, in words ("connection refused", "cannot resolve host H",
    "timed out"): the OS error at the bottom of httpx's chain, not the exception's class name."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, socket.gaierror):
            return f"cannot resolve host {host}"
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror.lower()
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return str(exc) or type(exc).__name__


def registry_error(response: httpx.Response) -> str:
    """The registry's own error message (``errors[0].message``), short, or the status."""
    text = f"HTTP {response.status_code}"
    try:
        document = orjson.loads(response.read())
    except (orjson.JSONDecodeError, httpx.HTTPError):
        return text
    if isinstance(document, dict):
        errors = document.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            code, message = errors[0].get("code"), errors[0].get("message")
            detail = " ".join(str(p) for p in (code, message) if isinstance(p, str))
            if detail:
                return f"{text} {detail[:_MAX_ERROR_TEXT]}"
    return text


class RegistryHttp:
    """An HTTP client bound to one registry ``host[:port]``; safe to share between threads."""

    def __init__(
        self,
        registry: str,
        settings: RegistrySettings,
        login: credentials.Credentials | None = None,
    ) -> None:
        """``login`` replaces the stored credentials (``inferd login`` checks new ones)."""
        self.registry = registry
        self.settings = settings
        policy = settings.policy
        if policy is not None:
            policy.require_listed_reference_host(registry)
        scheme = "http" if settings.is_insecure(registry) else "https"
        #: Loopback and not marked insecure: falls back to plain HTTP once, if TLS finds none.
        self._may_fall_back = scheme == "https" and is_loopback_registry(registry)
        self._plain_fallback = False
        verify: ssl.SSLContext | bool = True
        if settings.ca_file is not None:
            verify = _trust_context(settings.ca_file)
        limits = httpx.Limits(max_connections=settings.parallelism * 2)
        pinned = (
            None
            if policy is None
            else PinnedTransport(
                policy,
                functools.partial(httpx.HTTPTransport, verify=verify, limits=limits),
            )
        )
        found = login or credentials.lookup(settings.config_file, registry)
        self.client = httpx.Client(
            base_url=f"{scheme}://{api_host(registry)}",
            auth=RegistryAuth(found, self._check_realm),
            verify=verify,
            timeout=httpx.Timeout(settings.timeout_s, connect=min(settings.timeout_s, 10.0)),
            follow_redirects=True,
            limits=limits,
            headers={"User-Agent": f"inferd/{__version__}"},
            event_hooks={"request": [self._check_hop]},
            transport=pinned,
            # A proxy would resolve names itself, undoing the pinning: servers go direct.
            trust_env=policy is None,
        )

    def close(self) -> None:
        self.client.close()

    def _check_hop(self, request: httpx.Request) -> None:
        shown = join_host(request.url.host, request.url.port)  # as the registry is written
        own_plain = self._plain_fallback and shown.lower() == self.registry.lower()
        if request.url.scheme != "https" and not own_plain and not self.settings.is_insecure(shown):
            raise PermissionDenied(
                f"refusing plain HTTP to {shown!r}: it is not marked insecure "
                "(--insecure-registry / INFERD_INSECURE_REGISTRIES)"
            )

    def _check_realm(self, realm: httpx.URL) -> None:
        """Refuse a token realm that is neither on the registry's host nor allowlisted.

        The token request carries the registry's credentials: a registry must not be able to
        send them anywhere it likes by naming a realm.
        """
        own, _ = split_host(self.registry)
        same_host = realm.host == own.lower()
        if realm.host and (same_host or self.settings.lists(realm.host, realm.port)):
            return
        shown = join_host(realm.host, realm.port)
        raise PermissionDenied(
            f"registry {self.registry} names the token realm {shown!r}, which is neither its own "
            f"host nor on the allowlist ({ALLOWED_ENV}); refusing to send credentials there"
        )

    def _fail(self, response: httpx.Response, what: str) -> None:
        """Raise for an answer that retrying will not fix."""
        if response.status_code in (401, 403):
            # The registry's own words (GHCR's "permission_denied: …", "DENIED …") tell a
            # missing login from one that lacks the permission.
            said = registry_error(response).removeprefix(f"HTTP {response.status_code}")
            raise Unauthenticated(
                f"registry {self.registry} refused access to {what} "
                f"({response.status_code}{said}); run `inferd login {self.registry}`"
            )
        detail = registry_error(response)
        if detail == "HTTP 400" and response.url.scheme == "http" and not self._may_fall_back:
            # A bare 400 (no registry error) from a host marked insecure, as docker users mark
            # a registry with a self-signed certificate: here that means plain HTTP, which a TLS
            # port answers so.
            detail += (
                "; a registry that speaks HTTPS answers plain HTTP so: if this one does, drop "
                f"--insecure-registry {self.registry} ({INSECURE_ENV}) and pass its CA with "
                "--ca-file"
            )
        raise Unsupported(f"registry {self.registry} refused {what}: {detail}")

    @contextlib.contextmanager
    def stream(
        self, method: str, url: str | httpx.URL, **send: Unpack[Send]
    ) -> Iterator[httpx.Response]:
        """Send a request and yield its unread response once its status is in ``ok``.

        404 is yielded too when it is in ``ok``; any other status raises. With ``retry``,
        dropped connections and :data:`RETRY_STATUSES` are retried with backoff; without it,
        a dropped connection raises :class:`Dropped` at once.
        """
        what, ok = send["what"], send["ok"]
        attempts = self.settings.attempts if send.get("retry", True) else 1
        pause = send.get("pause", time.sleep)
        for attempt in range(1, attempts + 1):
            request = self.client.build_request(
                method,
                url,
                headers=send.get("headers"),
                params=send.get("params"),
                content=send.get("content"),
            )
            try:
                response = self._send(request)
            except httpx.TransportError as exc:
                if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                    raise Unavailable(
                        f"the TLS certificate of registry {self.registry} is not trusted; pass "
                        "its CA with --ca-file (INFERD_REGISTRY_CA), or mark the registry "
                        "insecure if it speaks plain HTTP"
                    ) from None
                if isinstance(exc, httpx.ConnectError) and _plain_http_answered(exc):
                    raise Unavailable(  # as docker's "server gave HTTP response to HTTPS client"
                        f"registry {self.registry} answered in plain HTTP, not HTTPS; if it "
                        "is meant to be reached without TLS, mark it insecure with "
                        f"--insecure-registry {self.registry} ({INSECURE_ENV})"
                    ) from None
                if attempt == attempts and isinstance(exc, httpx.ReadTimeout):
                    # Connected, then silent: not "unreachable", which sends users to the network.
                    raise Dropped(
                        f"registry {self.registry} accepted the connection but sent no answer "
                        f"to {what} within {self.settings.timeout_s:g} s ({attempts} attempts)"
                    ) from None
                if attempt == attempts:
                    why = transport_problem(exc, request.url.host)
                    raise Dropped(f"registry {self.registry} is unreachable: {why}") from None
                pause(self._backoff(attempt))
                continue
            try:
                if response.status_code in RETRY_STATUSES:
                    wait = retry_after(response)
                    if attempt < attempts and (wait is None or wait <= MAX_RETRY_AFTER_S):
                        pause(max(self._backoff(attempt), wait or 0.0))
                        continue
                    later = "" if wait is None else f"; it asks to be retried in {wait:.0f} s"
                    raise Unavailable(
                        f"registry {self.registry} failed {what}: {registry_error(response)}{later}"
                    )
                if response.status_code not in ok:
                    self._fail(response, what)
                yield response
                return
            finally:
                response.close()
        raise AssertionError("unreachable: the last attempt returns or raises")

    def request(self, method: str, url: str | httpx.URL, **send: Unpack[Send]) -> httpx.Response:
        """Like :meth:`stream`, with the body read (for small documents and empty answers)."""
        with self.stream(method, url, **send) as response:
            response.read()
            return response

    def _send(self, request: httpx.Request) -> httpx.Response:
        try:
            return self.client.send(request, stream=True)
        except httpx.ConnectError as exc:
            if not (self._may_fall_back and _plain_http_answered(exc)):
                raise
        if not self._plain_fallback:  # requests sent at once from threads may all get here
            log.info("registry %s speaks plain HTTP (loopback): using http://", self.registry)
            self._plain_fallback = True
            self.client.base_url = self.client.base_url.copy_with(scheme="http")
        request.url = request.url.copy_with(scheme="http")
        return self.client.send(request, stream=True)

    def _backoff(self, attempt: int) -> float:
        return float(self.settings.backoff_s * 2 ** (attempt - 1))


#: Docker Hub's API answers at this host: ``docker.io`` itself serves a web page.
DOCKER_HUB_API = "registry-1.docker.io"


def api_host(registry: str) -> str:
    """Where a reference's registry answers the distribution API: itself, but for Docker Hub's
    names (``docker.io/me/model:v1``), which docker sends to :data:`DOCKER_HUB_API` too."""
    return DOCKER_HUB_API if registry.lower() in credentials.DOCKER_HUB else registry


def retry_after(response: httpx.Response) -> float | None:
    """The seconds a 429 or 503 answer's ``Retry-After`` asks the client to wait (delay seconds
    or an HTTP date, RFC 9110 10.2.3), or None when it has none or none that parses."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _trust_context(ca_file: Path) -> ssl.SSLContext:
    """TLS verified against the PEM bundle ``ca_file`` only; a file that cannot be read or holds
    no certificate is a bad setting (InvalidArgument naming it), not an OS or SSL error."""
    where = f"the registry CA bundle {str(ca_file)!r} (--ca-file, {CA_ENV})"
    try:
        return ssl.create_default_context(cafile=str(ca_file.expanduser()))
    except ssl.SSLError as exc:  # before OSError, its base class
        raise InvalidArgument(
            f"{where} is not a PEM file of certificates ({exc.reason or exc.strerror})"
        ) from None
    except OSError as exc:
        raise InvalidArgument(f"{where} cannot be read: {exc.strerror}") from None


def is_loopback_registry(registry: str) -> bool:
    """Whether ``host[:port]`` names this machine: ``localhost`` or a loopback address."""
    host, _ = split_host(registry)
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _plain_http_answered(exc: httpx.ConnectError) -> bool:
    """Whether a TLS handshake failed because the server answered in plain HTTP."""
    text = str(exc).upper()
    return any(m in text for m in ("WRONG_VERSION_NUMBER", "RECORD LAYER FAILURE", "HTTP_REQUEST"))
