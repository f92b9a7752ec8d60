"""Which registries a server-side model source may reach: an exact-host allowlist (SSRF safety).

A control plane that loads ``host/name:tag`` on behalf of a remote caller must not become a proxy
into the network it runs in. :class:`RegistryPolicy` admits only hosts named exactly on its
allowlist, and refuses any address that is loopback, link-local (which includes the cloud
metadata service at 169.254.169.254), unspecified or multicast unless that very host was
allowlisted. :meth:`RegistryPolicy.check` resolves the name once and returns the addresses it
vetted; :class:`~inferd.store.remote.pinning.PinnedTransport` connects to those and only those,
for every request (redirect hops and token realms included), so a resolver that answers a public
address for the check and an internal one for the connection (DNS rebinding) gains nothing.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from inferd.errors import PermissionDenied

Resolver = Callable[[str], list[str]]
"""Host name -> IP addresses; the default asks the system resolver."""

#: Where the allowlist comes from, named in every refusal so an operator knows what to change.
ALLOWLIST_SOURCE = (
    "INFERD_ALLOWED_REGISTRIES, or registries.allow in the spec inferd up starts with"
)

#: Well-known metadata endpoints outside the link-local range (AWS IPv6, Alibaba).
_METADATA = frozenset(
    {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}
)


def system_resolver(host: str) -> list[str]:
    """Every address the system resolver returns for ``host``, in its order of preference
    (the order connections try them), without repeats; empty when it has none."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def split_host(host: str) -> tuple[str, int | None]:
    """``registry.example.com:5000`` -> ``("registry.example.com", 5000)``; IPv6 in brackets."""
    if host.startswith("["):
        inner, _, rest = host[1:].partition("]")
        return inner, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    name, colon, port = host.rpartition(":")
    if colon and port.isdigit() and ":" not in name:
        return name, int(port)
    return host, None


def join_host(host: str, port: int | None) -> str:
    """:func:`split_host` undone: ``host[:port]``, an IPv6 address in brackets (``[::1]:5000``),
    as references write it (an URL's host comes without the brackets)."""
    shown = f"[{host}]" if ":" in host else host
    return shown if port is None else f"{shown}:{port}"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


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

    def lists(self, host: str, port: int | None = None) -> bool:
        """Whether ``host[:port]`` is on the allowlist (no resolution; IPv6 with or without
        brackets)."""
        host = host.lower().strip("[]")
        names = (host, f"[{host}]") if ":" in host else (host,)
        return any(
            name in self.allowed or (port is not None and f"{name}:{port}" in self.allowed)
            for name in names
        )

    def require_listed(self, host: str, port: int | None = None) -> None:
        """Raise :class:`PermissionDenied` unless ``host[:port]`` is on the allowlist."""
        if not self.lists(host, port):
            shown = join_host(host.strip("[]"), port)
            raise PermissionDenied(
                f"registry {shown!r} is not on the allowlist of this server ({ALLOWLIST_SOURCE})"
            )

    def check(self, host: str, port: int | None = None) -> list[str]:
        """The addresses ``host[:port]`` may be reached at, from one resolution.

        Raises :class:`PermissionDenied` when the host is not listed, does not resolve, or any
        of its addresses is internal without being listed itself.
        """
        host = host.lower().strip("[]")
        shown = join_host(host, port)
        self.require_listed(host, port)
        if _is_ip(host):
            return [host]  # a literal; internal ones only get here when listed explicitly
        addresses = self.resolver(host)
        if not addresses:
            raise PermissionDenied(f"registry {shown!r} does not resolve to any address")
        for address in addresses:
            if internal_address(address) and not self.lists(address, port):
                raise PermissionDenied(
                    f"registry {shown!r} resolves to an internal address ({address}); refusing it"
                )
        return list(addresses)

    def require_listed_reference_host(self, registry: str) -> None:
        """Check a reference's ``host[:port]`` part against the list (requests resolve later)."""
        host, port = split_host(registry)
        self.require_listed(host, port)
