"""Token realms: credentials go only to the registry's own host or to an allowlisted one.

The registry names the realm in its ``401`` challenge, so without this check any registry could
collect the Basic credentials of every user who pulls from it. (A realm on the registry's own
host, another port, is test_auth.py's bearer-token test.)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from inferd.errors import PermissionDenied
from inferd.packaging import push
from inferd.store.remote import Credentials, RegistrySettings, credentials

from .conftest import PASSWORD, USER, Stores
from .registry import Registry


def test_credentials_never_go_to_a_token_realm_on_another_host(
    token_registry: tuple[Registry, str, list[str]], docker_config: Path, inferd_home: Path,
    model: Path, remote_store: Stores, tmp_path: Path,
) -> None:  # fmt: skip
    registry, realm, token_requests = token_registry
    # The same registry reached as localhost: its realm (127.0.0.1:…) is now another host.
    host = registry.host.replace("127.0.0.1", "localhost")
    credentials.store(docker_config / "config.json", host, Credentials(USER, PASSWORD))
    settings = RegistrySettings(insecure=frozenset({host, realm}), docker_config=docker_config)
    before = len(token_requests)
    store = remote_store(inferd_home, settings)
    with pytest.raises(PermissionDenied) as info:
        push(store, model, f"{host}/realm/fraud:v1")
    assert info.value.message == (
        f"registry {host} names the token realm {realm!r}, which is neither its own host nor "
        "on the allowlist (INFERD_ALLOWED_REGISTRIES); refusing to send credentials there"
    )
    assert PASSWORD not in info.value.message
    assert len(token_requests) == before, "the foreign realm was asked"

    allowed = dataclasses.replace(settings, allowed=frozenset({realm}))
    pushed = push(remote_store(tmp_path / "allowed", allowed), model, f"{host}/realm/fraud:v1")
    assert pushed.transfer is not None
    assert len(token_requests) > before
