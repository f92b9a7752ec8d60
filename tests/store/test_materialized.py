"""A materialized copy is checked on every use: a changed one is rebuilt, never served."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from inferd.packaging import push
from inferd.store import ModelStore, materialized

from .conftest import EXAMPLES

ONNX_V1 = EXAMPLES / "quickstart" / "fraud-v1" / "model.onnx"
ROW = np.array([[0.1, -0.2, 0.3, 0.0, 1.5, -0.7, 0.2, 0.4]], dtype=np.float32)


def _scores(model_dir: Path) -> np.ndarray:
    session = ort.InferenceSession(
        str(model_dir / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    return np.asarray(session.run(["probabilities"], {"input": ROW})[0])


def _rewrite(path: Path, data: bytes) -> None:
    os.chmod(path, 0o644)
    path.write_bytes(data)


def test_a_tampered_onnx_copy_is_rebuilt_and_serves_the_stored_model(store: ModelStore) -> None:
    """Issue 12 item 1: edit models/<digest>/model.onnx with onnx.save, materialize again."""
    push(store, ONNX_V1, "fraud:v1")
    first = store.materialize("fraud:v1")
    expected = _scores(first.path)
    model = onnx.load(first.path / "model.onnx")
    (classifier,) = model.graph.node
    (intercepts,) = [a for a in classifier.attribute if a.name == "intercepts"]
    intercepts.floats[:] = [-value * 50 for value in intercepts.floats]
    os.chmod(first.path / "model.onnx", 0o644)
    onnx.save(model, first.path / "model.onnx")
    assert not np.allclose(_scores(first.path), expected)  # the copy really changed

    again = store.materialize("fraud:v1")
    assert again.path == first.path
    assert (again.path / "model.onnx").read_bytes() == ONNX_V1.read_bytes()
    np.testing.assert_allclose(_scores(again.path), expected)


def test_an_edit_that_keeps_size_and_mtime_is_caught(store: ModelStore, model_dir: Path) -> None:
    push(store, model_dir, "fraud:v1")
    weights = store.materialize("fraud:v1").path / "model.bin"
    before = weights.stat()
    data = bytearray(weights.read_bytes())
    data[10] ^= 0x01
    _rewrite(weights, bytes(data))
    os.utime(weights, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.chmod(weights, 0o444)

    store.materialize("fraud:v1")
    assert weights.read_bytes() == (model_dir / "model.bin").read_bytes()


@pytest.mark.parametrize("change", ["added file", "removed file", "symlink", "replaced file"])
def test_other_changes_to_the_directory_are_caught(
    store: ModelStore, model_dir: Path, tmp_path: Path, change: str
) -> None:
    push(store, model_dir, "fraud:v1")
    path = store.materialize("fraud:v1").path
    vocab = path / "assets" / "vocab.txt"
    outside = tmp_path / "outside.txt"
    outside.write_text("a\nb\nc\n")
    if change == "added file":
        os.chmod(path, 0o755)
        (path / "extra.onnx").write_bytes(b"planted")
    elif change == "removed file":
        vocab.unlink()
    elif change == "symlink":
        vocab.unlink()
        vocab.symlink_to(outside)
    else:  # the same bytes in a new file (a copy-and-rename editor)
        replacement = path / "assets" / "vocab.new"
        shutil.copyfile(vocab, replacement)
        replacement.replace(vocab)

    store.materialize("fraud:v1")
    files = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())
    assert files == ["assets/vocab.txt", "inferd.model.yaml", "model.bin", "model.skops"]
    assert not vocab.is_symlink()
    assert vocab.read_text() == "a\nb\nc\n"


def test_an_intact_copy_is_reused_without_hashing(
    store: ModelStore, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    push(store, model_dir, "fraud:v1")
    path = store.materialize("fraud:v1").path
    inode = (path / "model.bin").stat().st_ino

    def no_hashing(_: Path) -> str:
        raise AssertionError("an intact, stamped copy must not be hashed again")

    monkeypatch.setattr(materialized, "_hash", no_hashing)
    assert store.materialize("fraud:v1").path == path
    assert (path / "model.bin").stat().st_ino == inode


def test_without_a_stamp_the_files_are_hashed_then_stamped(
    store: ModelStore, model_dir: Path
) -> None:
    """Directories materialized before stamps existed are verified once, not rebuilt."""
    push(store, model_dir, "fraud:v1")
    path = store.materialize("fraud:v1").path
    stamp = materialized.stamp_path(path)
    assert stamp.is_file()
    stamp.unlink()
    inode = (path / "model.bin").stat().st_ino

    store.materialize("fraud:v1")
    assert (path / "model.bin").stat().st_ino == inode
    assert stamp.is_file()


def test_gc_removes_stamps_with_their_directories(store: ModelStore, model_dir: Path) -> None:
    push(store, model_dir, "fraud:v1")
    path = store.materialize("fraud:v1").path
    stale = store.models / f"{'0' * 64}{materialized.STAMP_SUFFIX}"
    stale.write_bytes(b"{}")
    store.untag("fraud:v1")

    assert store.gc().models_removed == 1
    assert not path.exists()
    assert not materialized.stamp_path(path).exists()
    assert not stale.exists()
