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
