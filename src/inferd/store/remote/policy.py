"""Which registries a server-side model source may reach: an exact-host allowlist (SSRF safety).

A control plane that loads ``host/name:tag`` on behalf of a remote caller must not become a proxy
into the network it runs in. :class:`RegistryPolicy` admits only hosts named exactly on its
allowlist, and refuses any address that is loopback, link-local (which includes the cloud
metadata service at 169.254.169.254), unspecified or multicast unless that very host was
allowlisted. It is checked for the first request and again for every redirect hop, after
resolving the host name, so an allowlisted name that resolves (or is redirected) to an internal
address is refused too.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from inferd.errors import PermissionDenied

Resolver = Callable[[str], list[str]]
"""Host name -> IP addresses; the default asks the system resolver."""

#: Well-known metadata endpoints outside the link-local range (AWS IPv6, Alibaba).
_METADATA = frozenset(
    {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}
)


def system_resolver(host: str) -> list[str]:
    """Every address the system resolver returns for ``host`` (empty when it has none)."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return []
    return sorted({str(info[4][0]) for info in infos})


def split_host(host: str) -> tuple[str, int | None]:
    """``registry.example.com:5000`` -> ``("registry.example.com", 5000)``; IPv6 in brackets."""
    if host.startswith("["):
        inner, _, rest = host[1:].partition("]")
        return inner, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    name, colon, port = host.rpartition(":")
    if colon and port.isdigit() and ":" not in name:
        return name, int(port)
    return host, None


def internal_address(address: str) -> bool:
    """Whether ``address`` is loopback, link-local, metadata, unspecified or multicast."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return (
        ip.is_loopback
        or ip.is_link_local
        or ip.is_unspecified
        or ip.is_multicast
        or ip in _METADATA
    )


@dataclass(frozen=True)
class RegistryPolicy:
    """An exact-host allowlist: ``registry.example.com`` or ``registry.example.com:5000``.

    An entry without a port admits the host on any port; an entry with a port admits only it.
    Internal addresses are refused unless the entry names the host literally as it is
    requested (``127.0.0.1:5000`` admits that loopback registry and nothing else internal).
    """

    allowed: frozenset[str]
    resolver: Resolver = system_resolver

    @classmethod
    def of(cls, hosts: Iterable[str], resolver: Resolver = system_resolver) -> RegistryPolicy:
        return cls(frozenset(h.strip().lower() for h in hosts if h.strip()), resolver)

    def _listed(self, host: str, port: int | None) -> bool:
        return host in self.allowed or (port is not None and f"{host}:{port}" in self.allowed)

    def check(self, host: str, port: int | None = None) -> None:
        """Raise :class:`PermissionDenied` unless ``host[:port]`` may be contacted."""
        host = host.lower().strip("[]")
        shown = host if port is None else f"{host}:{port}"
        if not self._listed(host, port):
            raise PermissionDenied(f"registry {shown!r} is not on the allowlist of this server")
        if internal_address(host):
            return  # an internal IP literal that was allowlisted explicitly
        addresses = self.resolver(host)
        if not addresses:
            raise PermissionDenied(f"registry {shown!r} does not resolve to any address")
        for address in addresses:
            if internal_address(address) and not self._listed(address, port):
                raise PermissionDenied(
                    f"registry {shown!r} resolves to an internal address; refusing it"
                )

    def check_reference_host(self, registry: str) -> None:
        """Check a reference's ``host[:port]`` part."""
        host, port = split_host(registry)
        self.check(host, port)
