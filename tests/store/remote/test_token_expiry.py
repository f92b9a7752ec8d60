"""A bearer token that expires in the middle of a push (a large model takes longer than the
token lives, five minutes on Docker Hub): the upload the registry refused is sent again with a
fresh token, and the push completes."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import unquote

from inferd.packaging import push
from inferd.store.remote import Credentials, RegistrySettings, credentials

from ..conftest import make_model_dir, raw_npy
from .conftest import PASSWORD, USER, Stores
from .proxy import Faults, fault_proxy
from .registry import Registry

WEIGHTS = raw_npy(b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(2_000)))


def test_an_upload_refused_for_an_expired_token_is_sent_again_with_a_new_one(
    token_registry: tuple[Registry, str, list[str]], docker_config: Path, inferd_home: Path,
    tmp_path: Path, remote_store: Stores,
) -> None:  # fmt: skip
    registry, realm, token_requests = token_registry
    credentials.store(docker_config / "config.json", registry.host, Credentials(USER, PASSWORD))
    weights = f"sha256:{hashlib.sha256(WEIGHTS).hexdigest()}"
    faults = Faults(target=weights, expire=1)
    with fault_proxy(registry.host, faults) as proxy:
        # The token realm is on the registry's host: credentials may go there via the proxy.
        settings = RegistrySettings(
            insecure=frozenset({proxy, realm}), docker_config=docker_config, backoff_s=0.01
        )
        credentials.store(docker_config / "config.json", proxy, Credentials(USER, PASSWORD))
        store = remote_store(inferd_home, settings)
        model = make_model_dir(tmp_path / "model", weights=WEIGHTS)
        asked = len(token_requests)
        pushed = push(store, model, f"{proxy}/team/fraud:v1")
        uploads = [p for method, p, _ in faults.seen if method == "PUT" and weights in unquote(p)]
        assert len(uploads) == 2  # refused once (401), then accepted with a fresh token
        assert len(token_requests) > asked
        fetched = remote_store(tmp_path / "other", settings)
        assert fetched.fetch(f"{proxy}/team/fraud:v1").digest == pushed.digest
