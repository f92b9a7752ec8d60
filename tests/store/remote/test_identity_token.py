"""An OAuth login's Docker config entry (``az acr login`` and other OAuth registries): ``auth``
holds a placeholder user with no password and ``identitytoken`` a refresh token, which docker
exchanges at the token realm (``POST``, ``grant_type=refresh_token``). inferd does the same."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from inferd.packaging import push
from inferd.store.remote import RegistrySettings, credentials

from .conftest import REFRESH_TOKEN, Stores
from .registry import Registry

PLACEHOLDER = "00000000-0000-0000-0000-000000000000"


def _config(docker_config: Path, host: str, identity: str) -> None:
    docker_config.mkdir(exist_ok=True)
    auth = base64.b64encode(f"{PLACEHOLDER}:".encode()).decode()
    entry = {"auth": auth, "identitytoken": identity}
    (docker_config / "config.json").write_text(json.dumps({"auths": {host: entry}}))


def test_an_identity_token_is_exchanged_for_access_tokens(
    token_registry: tuple[Registry, str, list[str]], docker_config: Path, inferd_home: Path,
    model: Path, remote_store: Stores, tmp_path: Path,
) -> None:  # fmt: skip
    registry, realm, token_requests = token_registry
    _config(docker_config, registry.host, REFRESH_TOKEN)
    found = credentials.lookup(docker_config / "config.json", registry.host)
    assert found is not None and found.identity_token == REFRESH_TOKEN
    assert REFRESH_TOKEN not in repr(found)

    settings = RegistrySettings(
        insecure=frozenset({registry.host, realm}), docker_config=docker_config
    )
    store = remote_store(inferd_home, settings)
    pushed = push(store, model, f"{registry.host}/team/fraud:v1")
    other = remote_store(tmp_path / "other", settings)
    assert other.fetch(f"{registry.host}/team/fraud:v1").digest == pushed.digest
    grants = [r for r in token_requests if r.startswith("POST ")]
    assert grants, token_requests
    assert "'grant_type'" in grants[0] and "'refresh_token'" in grants[0]
