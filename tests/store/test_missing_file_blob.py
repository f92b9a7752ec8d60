"""A version whose file is gone from the store (its blob removed as corrupt by an earlier read,
deleted by hand, lost with a disk) is listed as damaged, naming the file, and a pull or load of
it fails naming the file, not a bare blob digest."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main
from inferd.errors import NotFound
from inferd.packaging import push
from inferd.store import ModelStore

from .conftest import EXAMPLES

ONNX_V1 = EXAMPLES / "quickstart" / "fraud-v1" / "model.onnx"
ONNX_V2 = EXAMPLES / "quickstart" / "fraud-v2" / "model.onnx"


def _lose_the_file(store: ModelStore) -> str:
    """Push fraud:v1 and fraud:v2, then delete v1's file blob; return that blob's digest."""
    v1 = push(store, ONNX_V1, "fraud:v1").digest
    push(store, ONNX_V2, "fraud:v2")
    (layer,) = store.layout.read_manifest(v1).layers
    store.layout.blobs.path(layer.digest).unlink()
    return layer.digest


def test_a_version_missing_a_file_is_listed_as_damaged(store: ModelStore) -> None:
    lost = _lose_the_file(store)

    broken, healthy = store.list()
    assert (broken.tag, broken.runtime, broken.size) == ("v1", "", None)
    assert broken.error is not None
    assert "'model.onnx'" in broken.error and lost in broken.error and "missing" in broken.error
    assert (healthy.tag, healthy.error) == ("v2", None)

    listed = CliRunner().invoke(main, ["ls"])
    assert listed.exit_code == 0
    assert "fraud:v1 is damaged" in listed.stderr and "'model.onnx'" in listed.stderr


@pytest.mark.parametrize("how", ["pull", "materialize"])
def test_a_pull_of_it_names_the_missing_file(store: ModelStore, tmp_path: Path, how: str) -> None:
    lost = _lose_the_file(store)
    with pytest.raises(NotFound) as raised:
        if how == "pull":
            store.pull("fraud:v1", tmp_path / "out")
        else:
            store.materialize("fraud:v1")
    assert "'model.onnx'" in raised.value.message and lost in raised.value.message

    pulled = CliRunner().invoke(main, ["pull", "fraud:v1", str(tmp_path / "cli")])
    assert pulled.exit_code == 3
    assert "'model.onnx'" in pulled.stderr and "push" in pulled.stderr

    push(store, ONNX_V1, "fraud:v1")  # pushing it again is the way out
    assert [e.error for e in store.list()] == [None, None]
    assert (store.pull("fraud:v1", tmp_path / "again") / "model.onnx").is_file()
