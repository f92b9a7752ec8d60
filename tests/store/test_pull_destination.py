"""A pull into a directory where something stands in the way of a file: the error names the
path in the destination and what it is, not the version's internal "file title"."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main
from inferd.errors import InvalidArgument
from inferd.packaging import push
from inferd.store import ModelStore


@pytest.fixture
def pushed(store: ModelStore, model_dir: Path) -> str:
    push(store, model_dir, "fraud:v1")
    return "fraud:v1"


def test_a_file_where_a_directory_goes_is_named(
    store: ModelStore, pushed: str, tmp_path: Path
) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "assets").write_text("mine")
    with pytest.raises(InvalidArgument) as info:
        store.pull(pushed, dest)
    assert info.value.message == (
        f"cannot write 'assets/vocab.txt' into the destination '{dest}': "
        f"'{dest / 'assets'}' is a file, not a directory; move it away or pull elsewhere"
    )
    assert (dest / "assets").read_text() == "mine"


@pytest.mark.parametrize("kind", ["symlink", "directory"])
def test_a_link_or_directory_where_a_file_goes_is_named(
    store: ModelStore, pushed: str, tmp_path: Path, kind: str
) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    outside = tmp_path / "outside"
    outside.write_text("not yours")
    if kind == "symlink":
        os.symlink(outside, dest / "model.bin")
    else:
        (dest / "model.bin").mkdir()
    result = CliRunner().invoke(main, ["pull", pushed, str(dest)])
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"error: cannot write 'model.bin' into the destination '{dest}': "
        f"'{dest / 'model.bin'}' is a {kind}, not a file (a pull never writes through links); "
        "move it away or pull elsewhere\n"
    )
    assert outside.read_text() == "not yours"


def _with_index_json(tmp_path: Path, store: ModelStore) -> str:
    model = tmp_path / "m"
    model.mkdir()
    (model / "index.json").write_text('{"hello": 1}')
    (model / "model.bin").write_bytes(b"w" * 100)
    push(store, model, "odd:v1", runtime="python")
    return "odd:v1"


@pytest.mark.parametrize("where", ["store", "home", "models/x"])
def test_a_destination_inside_the_store_home_is_refused(
    store: ModelStore, tmp_path: Path, where: str
) -> None:
    """Pulled files would overwrite the store's own (its index.json: every tag lost)."""
    reference = _with_index_json(tmp_path, store)
    index = (store.root / "store" / "index.json").read_bytes()
    dest = store.root if where == "home" else store.root / where
    with pytest.raises(InvalidArgument) as info:
        store.pull(reference, dest)
    assert info.value.message.startswith(f"cannot pull into {str(dest)!r}: ")
    assert f"inside the store's home {str(store.root.resolve())!r}" in info.value.message
    assert (store.root / "store" / "index.json").read_bytes() == index
    assert store.resolve(reference).reference.tag == "v1"


def test_a_title_that_would_land_in_the_store_home_is_refused(
    store: ModelStore, tmp_path: Path
) -> None:
    """Pulling into a parent of INFERD_HOME: a file titled '<home>/store/index.json' (the
    home's name within the parent) would overwrite the store all the same."""
    model = tmp_path / "m2"
    (model / store.root.name / "store").mkdir(parents=True)
    (model / store.root.name / "store" / "index.json").write_text('{"hello": 1}')
    push(store, model, "odd:v2", runtime="python")
    index = (store.root / "store" / "index.json").read_bytes()
    with pytest.raises(InvalidArgument, match="inside the store's home"):
        store.pull("odd:v2", store.root.parent)
    assert (store.root / "store" / "index.json").read_bytes() == index
