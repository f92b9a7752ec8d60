"""Remote registries: model versions pushed to and pulled from any OCI distribution registry.

:class:`RemoteRegistries` (built from :class:`RegistrySettings`) is what
:class:`~inferd.store.ModelStore` uses for references ``host[:port]/name:tag[@digest]``;
:class:`RegistryPolicy` is the allowlist a server-side source sets to stay SSRF-safe
(:meth:`RegistrySettings.server_side`; :func:`registries_of` names the registries references
name);
:mod:`~inferd.store.remote.credentials` reads and writes Docker's ``config.json``;
:class:`Transfer` is what a push or pull moved.
"""

from inferd.store.remote.credentials import Credentials
from inferd.store.remote.policy import RegistryPolicy
from inferd.store.remote.registries import RemoteRegistries
from inferd.store.remote.settings import RegistrySettings, registries_of
from inferd.store.results import Transfer

__all__ = [
    "Credentials",
    "RegistryPolicy",
    "RegistrySettings",
    "RemoteRegistries",
    "Transfer",
    "registries_of",
]
