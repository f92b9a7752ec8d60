"""``host/name@digest``: the digest decides the bytes, the registry decides whether its
repository holds them. Local bytes of another name (or another registry) prove nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from inferd.errors import NotFound
from inferd.packaging import push
from inferd.store import ModelStore
from inferd.store.remote import RegistrySettings, RemoteRegistries

from .conftest import Stores


def test_a_digest_only_held_locally_under_another_name_is_asked_of_the_registry(
    store: ModelStore, model: Path, repo: str, tmp_path: Path
) -> None:
    local = push(store, model, "fraud:v1")  # never pushed anywhere
    reference = f"{repo}@{local.digest}"
    with pytest.raises(NotFound, match="not found in the registry"):
        store.fetch(reference)
    with pytest.raises(NotFound):
        store.pull(reference, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [remote for remote, _ in store.layout.read_index().cached()] == []


def test_a_digest_the_repository_was_seen_holding_needs_no_request(
    store: ModelStore, settings: RegistrySettings, model: Path, repo: str, tmp_path: Path,
    remote_store: Stores, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    pushed = push(store, model, f"{repo}:v1")
    other = remote_store(tmp_path / "home", settings)
    other.fetch(f"{repo}:v1")
    # The same registry's other repository is asked, and does not hold it.
    elsewhere = repo.rsplit("/", 1)[0] + "/elsewhere"
    with pytest.raises(NotFound, match="not found in the registry"):
        other.fetch(f"{elsewhere}@{pushed.digest}")

    def no_requests(self: RemoteRegistries, registry: str) -> None:
        raise AssertionError(f"asked {registry}")

    monkeypatch.setattr(RemoteRegistries, "client", no_requests)
    moved = other.fetch(f"{repo}@{pushed.digest}")  # recorded as repo:v1: no request
    assert (moved.digest, moved.bytes_transferred) == (pushed.digest, 0)
