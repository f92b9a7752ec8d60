"""Push and pull through a real registry: round trips, dedupe, mounts, chunks, tags, listing."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

import inferd.store.remote
from inferd.cli import main
from inferd.errors import InvalidArgument, NotFound, Unsupported
from inferd.packaging import push
from inferd.store import ModelStore, media
from inferd.store.remote import RegistrySettings

from ..conftest import make_model_dir, raw_npy
from .conftest import Stores
from .registry import Registry


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_a_pushed_version_pulls_back_byte_for_byte_into_another_store(
    store: ModelStore,
    settings: RegistrySettings,
    model: Path,
    repo: str,
    tmp_path: Path,
    remote_store: Stores,
) -> None:
    pushed = push(store, model, f"{repo}:v1")
    assert pushed.transfer is not None
    assert (pushed.transfer.blobs, pushed.transfer.transferred) == (5, 5)
    assert store.list() == []  # a remote push tags nothing locally

    other = remote_store(tmp_path / "other-home", settings)
    fetched = other.fetch(f"{repo}:v1")
    assert fetched.digest == pushed.digest
    assert fetched.bytes_transferred == pushed.transfer.bytes_transferred
    assert _tree(other.pull(f"{repo}:v1", tmp_path / "out")) == _tree(model)

    materialized = other.materialize(f"{repo}@{pushed.digest}")
    assert _tree(materialized.path) == _tree(model)
    assert other.resolve(f"{repo}:v1").card.runtime == "sklearn"


def test_a_registry_on_an_ipv6_literal_host(
    ipv6_registry: Registry, docker_config: Path, inferd_home: Path, model: Path,
    remote_store: Stores, tmp_path: Path,
) -> None:  # fmt: skip
    """``[::1]:PORT/name:tag`` as container runtimes write it: a loopback registry (plain HTTP
    found without a flag), reached by the CLI, the API and a server's pinned connections."""
    ref = f"{ipv6_registry.host}/risk/fraud:v1"
    settings = RegistrySettings(docker_config=docker_config, attempts=1)
    pushed = push(remote_store(inferd_home, settings), model, ref)
    other = remote_store(tmp_path / "other-home", settings)
    assert _tree(other.pull(ref, tmp_path / "out")) == _tree(model)
    server = remote_store(tmp_path / "server-home", settings.server_side([ipv6_registry.host]))
    assert server.fetch(f"{ipv6_registry.host}/risk/fraud@{pushed.digest}").digest == pushed.digest
    listing = CliRunner().invoke(main, ["ls", f"{ipv6_registry.host}/risk/fraud", "--json"])
    assert listing.exit_code == 0, listing.output
    assert [(row["tag"], row["digest"]) for row in orjson.loads(listing.stdout)] == [
        ("v1", pushed.digest)
    ]


def test_blobs_the_registry_or_the_cache_holds_are_not_moved_again(
    store: ModelStore,
    settings: RegistrySettings,
    model: Path,
    repo: str,
    tmp_path: Path,
    remote_store: Stores,
) -> None:
    first = push(store, model, f"{repo}:v1")
    again = push(store, model, f"{repo}:v2", labels={"stage": "two"})
    assert again.transfer is not None
    # Only the card (a new label) is new; the four files are skipped.
    assert (again.transfer.transferred, again.transfer.skipped) == (1, 4)

    other = remote_store(tmp_path / "other-home", settings)
    other.fetch(f"{repo}:v1")
    second = other.fetch(f"{repo}:v2")
    assert (second.transferred, second.skipped) == (1, 4)
    assert second.bytes_transferred < 1000
    by_digest = other.fetch(f"{repo}@{first.digest}")
    assert by_digest.bytes_transferred == 0


def test_a_second_version_sharing_files_downloads_only_what_changed(
    store: ModelStore, settings: RegistrySettings, repo: str, tmp_path: Path, remote_store: Stores
) -> None:
    big = raw_npy(
        b"".join(hashlib.sha256(bytes([i % 256, i // 256])).digest() for i in range(20000))
    )
    v1 = make_model_dir(tmp_path / "v1", weights=big)
    v2 = make_model_dir(tmp_path / "v2", weights=big)
    (v2 / "assets" / "vocab.txt").write_text("a\nb\nc\nd\n")
    push(store, v1, f"{repo}:v1")
    push(store, v2, f"{repo}:v2")

    other = remote_store(tmp_path / "other-home", settings)
    first = other.fetch(f"{repo}:v1")
    assert first.bytes_transferred > len(big)
    second = other.fetch(f"{repo}:v2")
    # The same metadata gives the same card (it holds no push time): only the vocabulary moves.
    cards = {other.layout.read_manifest(t.digest).config.digest for t in (first, second)}
    assert len(cards) == 1
    assert second.bytes_transferred == len("a\nb\nc\nd\n")


def test_large_blobs_go_up_in_chunks_and_other_repositories_mount_them(
    settings: RegistrySettings, inferd_home: Path, repo: str, tmp_path: Path, remote_store: Stores
) -> None:
    chunked = dataclasses.replace(settings, monolithic_max=10_000, chunk_size=7_000)
    store = remote_store(inferd_home, chunked)
    model = make_model_dir(tmp_path / "m", weights=raw_npy(bytes(range(256)) * 300))
    pushed = push(store, model, f"{repo}:v1")
    elsewhere = repo.replace("/fraud", "/copy/fraud")
    copied = store.tag(f"{repo}:v1", f"{elsewhere}:v1")
    assert copied.digest == pushed.digest

    other = remote_store(tmp_path / "other-home", settings)
    assert _tree(other.pull(f"{elsewhere}:v1", tmp_path / "out")) == _tree(model)
    third = repo.replace("/fraud", "/third/fraud")
    mounted = push(store, model, f"{third}:v1")
    assert mounted.transfer is not None
    assert mounted.transfer.mounted == 4  # the files; the card (it names the model) is new


def test_tags_move_between_local_and_remote_names(
    store: ModelStore,
    settings: RegistrySettings,
    model: Path,
    repo: str,
    tmp_path: Path,
    remote_store: Stores,
) -> None:
    name = repo.split("/", 1)[1]
    local = push(store, model, f"{name}:v1")
    uploaded = store.tag(f"{name}:v1", f"{repo}:prod")
    assert uploaded.digest == local.digest

    other = remote_store(tmp_path / "other-home", settings)
    pulled = other.tag(f"{repo}:prod", f"{name}:prod")
    assert pulled.digest == local.digest
    assert [(e.name, e.tag) for e in other.list()] == [(name, "prod")]
    with pytest.raises(InvalidArgument, match="one model name"):
        other.tag(f"{repo}:prod", "something-else:v1")


def test_remote_listing_follows_pagination(store: ModelStore, model: Path, repo: str) -> None:
    for tag in ("a", "b", "c"):
        push(store, model, f"{repo}:{tag}")
    registry, name = repo.split("/", 1)
    assert store.remote is not None
    assert store.remote.client(registry).tags(name, page_size=2) == ["a", "b", "c"]
    rows = store.list(repo)
    assert [(r.tag, r.runtime) for r in rows] == [
        ("a", "sklearn"),
        ("b", "sklearn"),
        ("c", "sklearn"),
    ]
    assert all(r.name == repo and r.size == rows[0].size for r in rows)


def test_missing_versions_and_remote_untag_are_clear_errors(
    store: ModelStore, model: Path, repo: str
) -> None:
    with pytest.raises(NotFound, match="not found in the registry"):
        store.resolve(f"{repo}:nope")
    with pytest.raises(NotFound, match="not found in the registry"):
        store.list(repo)
    push(store, model, f"{repo}:v1")
    with pytest.raises(Unsupported, match="registries delete manifests"):
        store.untag(f"{repo}:v1")


def test_referrers_fall_back_to_the_tag_schema_where_the_api_is_missing(
    store: ModelStore, model: Path, repo: str
) -> None:
    pushed = push(store, model, f"{repo}:v1")
    registry, name = repo.split("/", 1)
    assert store.remote is not None
    client = store.remote.client(registry)
    assert client.referrers(name, pushed.digest) == []
    # A registry without the referrers API checks the fallback index's manifests exist.
    other = push(store, model, f"{repo}:signature").digest
    size = len(client.get_manifest(name, other).data)
    signature = {"mediaType": media.MANIFEST, "digest": other, "size": size,
                 "artifactType": "application/vnd.example.signature"}  # fmt: skip
    index = {"schemaVersion": 2, "mediaType": media.INDEX, "manifests": [signature]}
    client.put_manifest(name, pushed.digest.replace(":", "-"), orjson.dumps(index), media.INDEX)
    assert client.referrers(name, pushed.digest) == [signature]


def test_exported_names() -> None:
    assert sorted(inferd.store.remote.__all__) == [
        "Credentials", "RegistryPolicy", "RegistrySettings", "RemoteRegistries", "Transfer",
        "registries_of",
    ]  # fmt: skip
