"""Every blob is verified on read: a flipped byte is caught, named, and never handed on."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from inferd.errors import IntegrityError, ModelNotFound, NotFound
from inferd.packaging import push
from inferd.store import ModelStore
from inferd.store.blobs import BlobStore


def _flip(path: Path, offset: int = 0) -> None:
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def _layer_path(store: ModelStore, ref: str, title: str) -> tuple[str, Path]:
    manifest = store.layout.read_manifest(store.resolve(ref).digest)
    (digest,) = [item.digest for item in manifest.layers if item.title == title]
    return digest, store.layout.blobs.path(digest)


def test_flipped_byte_in_a_layer_fails_pull_and_materialize_naming_the_blob(
    store: ModelStore, model_dir: Path, tmp_path: Path
) -> None:
    push(store, model_dir, "fraud:v1")
    digest, path = _layer_path(store, "fraud:v1", "model.bin")
    _flip(path, offset=5000)

    dest = tmp_path / "out"
    with pytest.raises(IntegrityError) as info:
        store.pull("fraud:v1", dest)
    assert digest in info.value.message
    assert not (dest / "model.bin").exists()
    assert not [p for p in dest.rglob("*") if p.name.startswith(".tmp-")]

    assert "removed from the store" in info.value.message
    # The damaged copy is gone (a pull or push stores it again), so it is not found now.
    assert not path.exists()
    with pytest.raises(NotFound, match=digest):
        store.materialize("fraud:v1")
    assert not (store.root / "models" / store.resolve("fraud:v1").digest[7:]).exists()


def test_flipped_byte_in_the_card_or_manifest_fails_resolve(
    store: ModelStore, model_dir: Path
) -> None:
    pushed = push(store, model_dir, "fraud:v1")
    manifest = store.layout.read_manifest(pushed.digest)
    _flip(store.layout.blobs.path(manifest.config.digest))
    with pytest.raises(IntegrityError, match=manifest.config.digest):
        store.resolve("fraud:v1")
    _flip(store.layout.blobs.path(pushed.digest), offset=10)
    with pytest.raises(IntegrityError, match=pushed.digest):
        store.resolve("fraud:v1")


def test_pushing_again_repairs_a_damaged_blob(
    store: ModelStore, model_dir: Path, tmp_path: Path
) -> None:
    push(store, model_dir, "fraud:v1")
    _digest, path = _layer_path(store, "fraud:v1", "model.bin")
    _flip(path)
    push(store, model_dir, "fraud:v2")
    store.pull("fraud:v1", tmp_path / "out")
    assert (tmp_path / "out" / "model.bin").read_bytes() == (model_dir / "model.bin").read_bytes()


def test_write_with_an_expected_digest_refuses_other_bytes(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "blobs")
    good, size = blobs.write(io.BytesIO(b"hello"))
    assert size == 5
    bad = "sha256:" + "0" * 64
    with pytest.raises(IntegrityError, match=bad):
        blobs.write(io.BytesIO(b"hello"), expected=bad)
    assert not blobs.exists(bad)
    assert list(blobs.digests()) == [good]
    assert list(blobs.temp_files()) == []


def test_missing_references_raise_not_found_naming_them(store: ModelStore, model_dir: Path) -> None:
    with pytest.raises(ModelNotFound, match="'nope'"):
        store.resolve("nope:v1")
    push(store, model_dir, "fraud:v1")
    with pytest.raises(ModelNotFound, match="'v9'"):
        store.materialize("fraud:v9")
    missing = "sha256:" + "1" * 64
    with pytest.raises(NotFound, match=missing):
        store.resolve(f"fraud@{missing}")
    # A digest that exists but belongs to another model does not resolve under this name.
    pushed = store.resolve("fraud:v1")
    with pytest.raises(NotFound, match="other@"):
        store.resolve(f"other@{pushed.digest}")
    assert store.resolve(f"fraud@{pushed.digest}").digest == pushed.digest
