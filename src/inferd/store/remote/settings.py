"""How inferd reaches registries: insecure hosts, CA bundle, credentials file, transfer limits.

Read once, in the composition root (:meth:`RegistrySettings.from_environ`), from

- ``INFERD_INSECURE_REGISTRIES``: comma-separated ``host[:port]`` entries that may use plain
  HTTP (loopback registries too: nothing is insecure unless named);
- ``INFERD_REGISTRY_CA``: a PEM bundle that replaces the system trust store for TLS;
- ``DOCKER_CONFIG``: the directory of ``config.json`` (default ``~/.docker``), as for docker.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from inferd.store.remote.policy import RegistryPolicy

INSECURE_ENV = "INFERD_INSECURE_REGISTRIES"
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


def _hosts(text: str) -> frozenset[str]:
    return frozenset(h.strip().lower() for h in text.split(",") if h.strip())


@dataclass(frozen=True)
class RegistrySettings:
    """Everything the remote client needs; frozen once read."""

    insecure: frozenset[str] = frozenset()
    """``host[:port]`` entries allowed over plain HTTP (a bare host admits every port)."""
    ca_file: Path | None = None
    """PEM bundle used instead of the system trust store."""
    docker_config: Path = DEFAULT_DOCKER_CONFIG
    """Directory holding ``config.json`` with ``auths.<host>.auth``."""
    policy: RegistryPolicy | None = None
    """When set (server-side sources), only allowlisted registries are contacted."""
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

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> RegistrySettings:
        env = os.environ if environ is None else environ
        ca = env.get(CA_ENV)
        config_dir = env.get(DOCKER_CONFIG_ENV)
        return cls(
            insecure=_hosts(env.get(INSECURE_ENV, "")),
            ca_file=Path(ca) if ca else None,
            docker_config=Path(config_dir) if config_dir else DEFAULT_DOCKER_CONFIG,
        )

    def with_insecure(self, hosts: Iterable[str]) -> RegistrySettings:
        """These settings with ``hosts`` added to the insecure set (``--insecure-registry``)."""
        return replace(self, insecure=self.insecure | frozenset(h.lower() for h in hosts))

    def is_insecure(self, registry: str) -> bool:
        host = registry.lower()
        return host in self.insecure or host.rsplit(":", 1)[0] in self.insecure

    @property
    def config_file(self) -> Path:
        return self.docker_config.expanduser() / "config.json"
