"""Blob sizes: a registry cannot fill the disk, whatever it declares or sends.

A declared size beyond ``max_blob_bytes`` or the free space is refused before the download
starts; bytes beyond the declared size are cut off while streaming. Each is PayloadTooLarge, and
nothing half-written stays behind.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest

from inferd.errors import PayloadTooLarge
from inferd.packaging import push
from inferd.store import ModelStore, media
from inferd.store.manifest import MAX_DOCUMENT_BYTES, Manifest
from inferd.store.remote import RegistrySettings

from ..conftest import make_model_dir, raw_npy
from .conftest import Stores
from .fake import fake_registry
from .proxy import Faults, fault_proxy
from .registry import Registry

WEIGHTS = raw_npy(b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(10_000)))


def _nothing_left(store: ModelStore) -> None:
    assert list(store.layout.blobs.temp_files()) == []
    assert list(store.layout.read_index().cached()) == []
    weights = f"sha256:{hashlib.sha256(WEIGHTS).hexdigest()}"
    assert not store.layout.blobs.exists(weights)


def test_a_blob_declared_over_the_cap_is_never_requested(
    open_registry: Registry, settings: RegistrySettings, store: ModelStore, repo: str,
    tmp_path: Path, remote_store: Stores,
) -> None:  # fmt: skip
    push(store, make_model_dir(tmp_path / "model", weights=WEIGHTS), f"{repo}:v1")
    name = repo.split("/", 1)[1]
    capped = dataclasses.replace(settings, max_blob_bytes=100_000)
    faults = Faults()
    with fault_proxy(open_registry.host, faults) as proxy:
        pulling = remote_store(tmp_path / "home", capped.with_insecure([proxy]))
        with pytest.raises(PayloadTooLarge) as info:
            pulling.fetch(f"{proxy}/{name}:v1")
    assert info.value.message.startswith("blob sha256:")
    assert f"declares {len(WEIGHTS)} bytes, more than the 100000 allowed" in info.value.message
    assert "(INFERD_MAX_BLOB_BYTES)" in info.value.message
    assert [path for _, path, _ in faults.seen if "/blobs/" in path] == []
    _nothing_left(pulling)


def test_a_pull_that_does_not_fit_the_free_space_is_refused(
    settings: RegistrySettings, store: ModelStore, repo: str, tmp_path: Path,
    remote_store: Stores, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    push(store, make_model_dir(tmp_path / "model", weights=WEIGHTS), f"{repo}:v1")
    pulling = remote_store(tmp_path / "home", dataclasses.replace(settings, min_free_bytes=0))
    real = shutil.disk_usage

    def almost_full(path: Any) -> Any:
        return real(path)._replace(free=len(WEIGHTS) // 2)

    monkeypatch.setattr(shutil, "disk_usage", almost_full)
    with pytest.raises(PayloadTooLarge, match=r"would leave less than 0 bytes free in the store"):
        pulling.fetch(f"{repo}:v1")
    _nothing_left(pulling)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_registry_sending_more_than_it_declared_is_cut_off(
    inferd_home: Path, docker_config: Path, tmp_path: Path, remote_store: Stores, chunked: bool
) -> None:
    local = ModelStore(tmp_path / "packaged")
    pushed = push(local, make_model_dir(tmp_path / "model", weights=WEIGHTS), "fraud:v1")
    data = local.layout.blobs.read_bytes(pushed.digest, limit=MAX_DOCUMENT_BYTES)
    manifest = Manifest.parse(data, pushed.digest)
    with fake_registry() as fake:
        fake.chunked = chunked
        fake.manifests["v1"] = (data, media.MANIFEST, pushed.digest)
        for descriptor in [manifest.config, *(layer.descriptor for layer in manifest.layers)]:
            body = local.layout.blobs.path(descriptor.digest).read_bytes()
            # The weights go on and on: 64 times what the manifest declares.
            fake.blobs[descriptor.digest] = body * 64 if body == WEIGHTS else body
        settings = RegistrySettings(
            insecure=frozenset({fake.host}), docker_config=docker_config, attempts=1
        )
        pulling = remote_store(inferd_home, settings)
        with pytest.raises(PayloadTooLarge) as info:
            pulling.fetch(f"{fake.host}/team/fraud:v1")
    assert info.value.message == (
        f"the registry sent more than the {len(WEIGHTS)} bytes blob "
        f"sha256:{hashlib.sha256(WEIGHTS).hexdigest()} declares; aborted"
    )
    _nothing_left(pulling)
