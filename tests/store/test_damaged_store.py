"""A damaged store fails where it is damaged, with the data-loss class, and a listing still
shows every version; paths a user names (INFERD_HOME, a pull's destination) that cannot be
directories are their input's fault, named, never an OS error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from inferd.config import StoreSettings
from inferd.errors import DataLoss, InvalidArgument, NotFound
from inferd.packaging import push
from inferd.store import ModelStore
from inferd.store.blobs import BlobStore

from .conftest import EXAMPLES

ONNX_V1 = EXAMPLES / "quickstart" / "fraud-v1" / "model.onnx"


def _two_versions(store: ModelStore, model_dir: Path) -> tuple[str, str]:
    """``fraud:v1`` (the directory model) and ``fraud:v2`` (an ONNX file): no blob shared."""
    return push(store, model_dir, "fraud:v1").digest, push(store, ONNX_V1, "fraud:v2").digest


def test_a_version_whose_manifest_is_gone_is_listed_as_broken_beside_the_healthy_one(
    store: ModelStore, model_dir: Path
) -> None:
    v1, v2 = _two_versions(store, model_dir)
    store.layout.blobs.path(v1).unlink()

    broken, healthy = store.list()
    assert (broken.tag, broken.digest, broken.runtime, broken.size) == ("v1", v1, "", None)
    assert broken.error == f"blob {v1} not found"
    assert broken.created is not None  # the history still says when it was pushed
    assert (healthy.tag, healthy.digest, healthy.runtime, healthy.error) == ("v2", v2, "onnx", None)
    assert healthy.size == ONNX_V1.stat().st_size
    assert [e.tag for e in store.list("fraud")] == ["v1", "v2"]

    store.untag("fraud:v1")  # what the listing points the user to: the broken tag goes
    assert [(e.tag, e.error) for e in store.list()] == [("v2", None)]


def test_a_corrupt_card_is_listed_with_the_integrity_error(
    store: ModelStore, model_dir: Path
) -> None:
    v1, _ = _two_versions(store, model_dir)
    card = store.layout.blobs.path(store.layout.read_manifest(v1).config.digest)
    os.chmod(card, 0o644)
    card.write_bytes(b'{"name": "tampered"}')

    entries = {e.tag: e for e in store.list()}
    assert entries["v1"].error is not None
    assert entries["v1"].error.startswith(f"blob sha256:{card.name} is corrupt")
    assert entries["v2"].error is None and entries["v2"].runtime == "onnx"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"{", "it is not JSON"),
        (b'{"manifests": 3}', "it has no valid 'manifests' list"),
        (  # an entry that is not an OCI descriptor: gc cannot tell what it keeps
            b'{"manifests": [{"digest": "sha256:' + b"0" * 64 + b'", "size": 1}]}',
            "entry 0: mediaType is missing",
        ),
    ],
)
def test_a_damaged_index_is_data_loss_and_gc_removes_nothing(
    store: ModelStore, model_dir: Path, content: bytes, problem: str
) -> None:
    v1, _ = _two_versions(store, model_dir)
    (store.layout.directory / "index.json").write_bytes(content)
    message = f"index.json of the store is damaged: {problem}"
    with pytest.raises(DataLoss, match=message):
        store.list()
    with pytest.raises(DataLoss, match=message):
        store.resolve("fraud:v1")
    with pytest.raises(DataLoss, match=message):
        store.gc()  # with no tags to keep, a gc would otherwise delete every blob
    assert store.layout.blobs.exists(v1)


def test_an_inferd_home_that_cannot_be_a_directory_is_invalid(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("not a store")
    with pytest.raises(InvalidArgument, match=f"^INFERD_HOME '{afile}' is not a directory$"):
        ModelStore.from_settings(StoreSettings(home=afile))
    under = afile / "sub"
    with pytest.raises(
        InvalidArgument, match=f"INFERD_HOME '{under}' cannot be created: '{afile}' is not a dir"
    ):
        ModelStore.from_settings(StoreSettings(home=under))
    fresh = ModelStore.from_settings(StoreSettings(home=tmp_path / "new" / "home"))
    assert fresh.list() == []  # a home that does not exist yet is fine, and stays uncreated
    assert not (tmp_path / "new").exists()


def test_a_pull_destination_under_a_file_is_invalid_and_writes_nothing(
    store: ModelStore, model_dir: Path, tmp_path: Path
) -> None:
    push(store, model_dir, "fraud:v1")
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(
        InvalidArgument,
        match=f"^cannot create the destination '{afile}/sub': '{afile}' is not a directory$",
    ):
        store.pull("fraud:v1", afile / "sub")
    assert afile.read_text() == "x"


def test_a_destination_that_refuses_writes_is_invalid_but_a_store_error_is_not(
    store: ModelStore, model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Which path an OS error names decides whose fault it is: the destination's (exit 2), or
    the store's own files (passed on as they are)."""
    push(store, model_dir, "fraud:v1")
    dest = tmp_path / "dest"
    copy_to = BlobStore.copy_to

    def refused(self: BlobStore, digest: str, target: Path, **kwargs: object) -> int:
        raise PermissionError(13, "Permission denied", str(target.parent / ".tmp-x"))

    monkeypatch.setattr(BlobStore, "copy_to", refused)
    with pytest.raises(
        InvalidArgument, match=f"^cannot write into the destination '{dest}': Permission denied$"
    ):
        store.pull("fraud:v1", dest)

    def unreadable(self: BlobStore, digest: str, target: Path, **kwargs: object) -> int:
        raise PermissionError(13, "Permission denied", str(self.path(digest)))

    monkeypatch.setattr(BlobStore, "copy_to", unreadable)
    with pytest.raises(PermissionError):
        store.pull("fraud:v1", dest)
    monkeypatch.setattr(BlobStore, "copy_to", copy_to)
    store.pull("fraud:v1", dest)
    assert (dest / "model.bin").read_bytes() == (model_dir / "model.bin").read_bytes()


def test_a_missing_manifest_is_still_not_found_for_the_version_itself(
    store: ModelStore, model_dir: Path
) -> None:
    v1, _ = _two_versions(store, model_dir)
    store.layout.blobs.path(v1).unlink()
    with pytest.raises(NotFound, match=f"blob {v1} not found"):
        store.resolve("fraud:v1")
    assert store.resolve("fraud:v2").card.runtime == "onnx"
