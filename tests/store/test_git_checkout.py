"""A model directory that is a git checkout (``git clone`` of a Hugging Face repository, a
training repo): its ``.git`` is the repository's metadata, never a file of the model. It is left
out with a warning, as ``huggingface_hub``'s uploads leave it out, instead of the push being
refused over ``.git/index`` with advice to trust an unsafe format."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from inferd.packaging import push
from inferd.store import ModelStore

from .conftest import EXAMPLES

ONNX_V1 = EXAMPLES / "quickstart" / "fraud-v1" / "model.onnx"


def _checkout(path: Path) -> Path:
    path.mkdir()
    shutil.copyfile(ONNX_V1, path / "model.onnx")
    git = path / ".git"
    (git / "objects" / "ab").mkdir(parents=True)
    (git / "index").write_bytes(b"DIRC\x00\x00\x00\x02\x00\x00\x00\x01\x8e\xff")  # binary
    (git / "objects" / "ab" / "cdef").write_bytes(b"x\x9c\x01\x02\x03")  # zlib, not data
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (path / ".gitattributes").write_text("*.onnx filter=lfs diff=lfs merge=lfs -text\n")
    return path


def test_the_git_directory_of_a_checkout_is_left_out_with_a_warning(
    store: ModelStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="inferd.store"):
        pushed = push(store, _checkout(tmp_path / "model"), "fraud:v1")
    manifest = store.layout.read_manifest(pushed.digest)
    assert [item.title for item in manifest.layers] == [".gitattributes", "model.onnx"]
    assert any("'.git'" in r.getMessage() and "left out" in r.getMessage() for r in caplog.records)
    # The same files as a plain copy: the same version.
    plain = tmp_path / "plain"
    plain.mkdir()
    shutil.copyfile(ONNX_V1, plain / "model.onnx")
    shutil.copyfile(tmp_path / "model" / ".gitattributes", plain / ".gitattributes")
    assert push(store, plain, "fraud:v2").digest == pushed.digest


def test_a_nested_git_directory_is_still_a_file_of_the_model(
    store: ModelStore, tmp_path: Path
) -> None:
    # Only the pushed directory's own .git is a checkout's; deeper ones are the pusher's files.
    model = tmp_path / "model"
    model.mkdir()
    shutil.copyfile(ONNX_V1, model / "model.onnx")
    (model / "assets" / ".git").mkdir(parents=True)
    (model / "assets" / ".git" / "notes.txt").write_text("kept\n")
    pushed = push(store, model, "fraud:v1")
    titles = [item.title for item in store.layout.read_manifest(pushed.digest).layers]
    assert titles == ["assets/.git/notes.txt", "model.onnx"]
