"""How inferd reaches registries: insecure hosts, CA bundle, credentials file, allowlist, limits.

Read once, in the composition root (:meth:`RegistrySettings.from_environ`), from

- ``INFERD_INSECURE_REGISTRIES``: comma-separated ``host[:port]`` entries that may use plain
  HTTP (loopback registries fall back to it without being named, as for docker: see
  :mod:`inferd.store.remote.transport`);
- ``INFERD_REGISTRY_CA``: a PEM bundle that replaces the system trust store for TLS;
- ``DOCKER_CONFIG``: the directory of ``config.json`` (default ``~/.docker``), as for docker;
- ``INFERD_ALLOWED_REGISTRIES``: comma-separated ``host[:port]`` entries that servers
  (``inferd serve``, ``inferd up``) may fetch from, and token realms on other hosts that may
  receive credentials. Servers fetch from no registry unless named (:meth:`server_side`);
- ``INFERD_MAX_BLOB_BYTES``: the largest blob any download accepts (default 128 GiB).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from inferd.errors import InvalidArgument
from inferd.reference import registry_host_problem, split_registry
from inferd.store.remote.policy import RegistryPolicy

INSECURE_ENV = "INFERD_INSECURE_REGISTRIES"
ALLOWED_ENV = "INFERD_ALLOWED_REGISTRIES"
MAX_BLOB_ENV = "INFERD_MAX_BLOB_BYTES"
CA_ENV = "INFERD_REGISTRY_CA"
DOCKER_CONFIG_ENV = "DOCKER_CONFIG"
DEFAULT_DOCKER_CONFIG = Path("~/.docker")

#: Layers moving at once; registries and disks both prefer a small bound.
DEFAULT_PARALLELISM = 4
#: Blobs up to this size go up in one PUT; larger ones in PATCH chunks of :data:`DEFAULT_CHUNK`.
DEFAULT_MONOLITHIC_MAX = 32 * 1024 * 1024
DEFAULT_CHUNK = 32 * 1024 * 1024
#: Attempts per request on 5xx, 429 and dropped connections (the first try included).
DEFAULT_ATTEMPTS = 5
DEFAULT_BACKOFF_S = 0.2
DEFAULT_TIMEOUT_S = 60.0
#: Largest blob a download accepts: beyond any single model file inferd has met, far below a
#: disk. A registry declaring (or sending) more is refused before it can fill the store.
DEFAULT_MAX_BLOB_BYTES = 128 * 1024**3
#: Free space a download must leave on the store's filesystem (logs, the index, other writes).
DEFAULT_MIN_FREE_BYTES = 256 * 1024**2


def checked_hosts(hosts: Iterable[str], source: str) -> frozenset[str]:
    """``hosts`` (lower-cased) when each is a registry's ``HOST[:PORT]``; else a bad setting
    naming ``source`` and the entry, since a URL or a path would match no registry and be
    silently ignored (docker refuses them in ``insecure-registries`` too)."""
    listed = list(hosts)
    for host in listed:
        problem = registry_host_problem(host)
        if problem is not None:
            raise InvalidArgument(f"{source}: {problem}")
    return frozenset(h.lower() for h in listed)


def _hosts(text: str, variable: str) -> frozenset[str]:
    return checked_hosts((h.strip() for h in text.split(",") if h.strip()), variable)


def registries_of(references: Iterable[str]) -> list[str]:
    """The ``host[:port]`` of every reference that names a registry."""
    return [host for host, _ in map(split_registry, references) if host is not None]


def _max_blob_bytes(text: str | None) -> int:
    """The cap in bytes: ASCII digits only (``int`` would also take ``1_000``, `` 5`` and other
    scripts' digits), at least 1; anything else is a bad setting saying what is expected."""
    if not text:
        return DEFAULT_MAX_BLOB_BYTES
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise InvalidArgument(
            f"{MAX_BLOB_ENV}={text!r} is not a positive whole number of bytes (without a "
            f"unit, e.g. {10 * 1024**3} for 10 GiB; unset, the cap is 128 GiB)"
        )
    return int(text)


@dataclass(frozen=True)
class RegistrySettings:
    """Everything the remote client needs; frozen once read."""

    insecure: frozenset[str] = frozenset()
    """``host[:port]`` entries allowed over plain HTTP (a bare host admits every port)."""
    ca_file: Path | None = None
    """PEM bundle used instead of the system trust store."""
    docker_config: Path = DEFAULT_DOCKER_CONFIG
    """Directory holding ``config.json`` with ``auths.<host>.auth``."""
    allowed: frozenset[str] = frozenset()
    """``host[:port]`` entries servers may fetch from; token realms on another host than their
    registry receive credentials only when listed here."""
    policy: RegistryPolicy | None = None
    """When set (server-side sources), only allowlisted registries are contacted, at the
    addresses the policy vetted (see :mod:`inferd.store.remote.pinning`)."""
    parallelism: int = DEFAULT_PARALLELISM
    """Blobs transferred at once."""
    monolithic_max: int = DEFAULT_MONOLITHIC_MAX
    """Largest blob uploaded in one PUT; larger ones go in PATCH chunks."""
    chunk_size: int = DEFAULT_CHUNK
    """Bytes per PATCH (read from disk one chunk at a time)."""
    attempts: int = DEFAULT_ATTEMPTS
    """Tries per request (or per blob, for uploads and resumed downloads)."""
    backoff_s: float = DEFAULT_BACKOFF_S
    """First retry delay; doubles after each failed attempt."""
    timeout_s: float = DEFAULT_TIMEOUT_S
    """Per-operation network timeout (connect is capped at 10 s)."""
    max_blob_bytes: int = DEFAULT_MAX_BLOB_BYTES
    """Largest blob a download accepts, declared or received."""
    min_free_bytes: int = DEFAULT_MIN_FREE_BYTES
    """Free bytes a download leaves on the store's filesystem."""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> RegistrySettings:
        env = os.environ if environ is None else environ
        ca = env.get(CA_ENV)
        config_dir = env.get(DOCKER_CONFIG_ENV)
        return cls(
            insecure=_hosts(env.get(INSECURE_ENV, ""), INSECURE_ENV),
            ca_file=Path(ca) if ca else None,
            docker_config=Path(config_dir) if config_dir else DEFAULT_DOCKER_CONFIG,
            allowed=_hosts(env.get(ALLOWED_ENV, ""), ALLOWED_ENV),
            max_blob_bytes=_max_blob_bytes(env.get(MAX_BLOB_ENV)),
        )

    def server_side(self, hosts: Iterable[str] = ()) -> RegistrySettings:
        """These settings for a server: only :attr:`allowed` and ``hosts`` may be contacted.

        ``hosts`` are registries the operator named when starting the server (its command line,
        the spec ``inferd up`` starts with); nothing received later can add to them.
        """
        allowed = self.allowed | frozenset(h.lower() for h in hosts)
        return replace(self, allowed=allowed, policy=RegistryPolicy.of(allowed))

    def lists(self, host: str, port: int | None) -> bool:
        """Whether ``host[:port]`` is allowlisted (by :attr:`allowed` or by the policy)."""
        if self.policy is not None and self.policy.lists(host, port):
            return True
        return RegistryPolicy.of(self.allowed).lists(host, port)

    def with_insecure(self, hosts: Iterable[str]) -> RegistrySettings:
        """These settings with ``hosts`` added to the insecure set (``--insecure-registry``)."""
        return replace(self, insecure=self.insecure | frozenset(h.lower() for h in hosts))

    def is_insecure(self, registry: str) -> bool:
        host = registry.lower()
        return host in self.insecure or host.rsplit(":", 1)[0] in self.insecure

    @property
    def config_file(self) -> Path:
        return self.docker_config.expanduser() / "config.json"
