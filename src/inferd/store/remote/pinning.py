"""Connections to the addresses a :class:`RegistryPolicy` vetted, and to no others (DNS pinning).

Checking a host name and then letting the HTTP stack resolve it again leaves a window: a
resolver under an attacker's control answers a public address to the check and ``127.0.0.1`` to
the connection (DNS rebinding). :class:`PinnedTransport` closes it by doing both in one place,
for every request the client sends (redirect hops and token realms included):

1. :meth:`RegistryPolicy.check` resolves the host once and vets every address;
2. the request goes to the first vetted address that accepts a connection, with the URL's host
   swapped for that address; the ``Host`` header keeps the name, and TLS verifies the
   certificate against the name (``sni_hostname``), so pinning never weakens TLS;
3. each host name gets its own connection pool, so a connection verified for one name never
   carries a request for another that happens to share an address.

Environment proxies are not used with a policy (the client sets ``trust_env=False``): a proxy
would resolve the name itself and undo the pinning.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx

from inferd.store.remote.policy import RegistryPolicy

TransportFactory = Callable[[], httpx.BaseTransport]
"""Builds the transport of one host name's pool (an :class:`httpx.HTTPTransport` in use)."""


class PinnedTransport(httpx.BaseTransport):
    """An :class:`httpx.BaseTransport` that sends each request to an address its policy vetted."""

    def __init__(self, policy: RegistryPolicy, factory: TransportFactory) -> None:
        self._policy = policy
        self._factory = factory
        self._pools: dict[str, httpx.BaseTransport] = {}
        self._lock = threading.Lock()

    def _pool(self, host: str) -> httpx.BaseTransport:
        with self._lock:
            pool = self._pools.get(host)
            if pool is None:
                pool = self._pools[host] = self._factory()
            return pool

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        addresses = self._policy.check(host, request.url.port)
        pool = self._pool(host)
        extensions = dict(request.extensions)
        if request.url.scheme == "https":
            extensions.setdefault("sni_hostname", host)
        failure: httpx.ConnectError | None = None
        for address in addresses:
            pinned = httpx.Request(
                request.method,
                request.url.copy_with(host=address),
                headers=request.headers,  # Host: still the name
                stream=request.stream,
                extensions=extensions,
            )
            try:
                return pool.handle_request(pinned)
            except httpx.ConnectError as exc:  # nothing was sent: the next address may answer
                failure = exc
        assert failure is not None, "check() returns at least one address"
        raise failure

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()
