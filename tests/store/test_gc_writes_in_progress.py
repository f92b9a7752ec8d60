"""``gc --max-size`` beside a pull or push in progress: the bytes of a blob being written (its
temporary file in ``blobs/sha256/``) are on the disk, so they count toward what the store uses,
and the file is left to the write."""

from __future__ import annotations

from click.testing import CliRunner

from inferd.cli import main
from inferd.packaging import push
from inferd.store import ModelStore
from inferd.store.atomic import staged

from .conftest import EXAMPLES

ONNX = EXAMPLES / "quickstart" / "fraud-v1" / "model.onnx"
WRITTEN = 3 * 1024 * 1024


def test_a_download_being_written_counts_toward_the_budget(store: ModelStore) -> None:
    push(store, ONNX, "fraud:v1")
    before = store.gc(max_size=10 * 1024**3).bytes_used
    assert before is not None
    with staged(store.layout.blobs.directory) as download:  # as a pull streams a blob
        download.handle.write(b"\0" * WRITTEN)
        download.handle.flush()

        result = store.gc(max_size=10 * 1024**3)
        assert result.bytes_used == before + WRITTEN
        assert download.path.stat().st_size == WRITTEN  # left to the write

        over = CliRunner().invoke(main, ["gc", "--max-size", "1M"])
        assert over.exit_code == 0, over.output
        assert "files being written" in over.stderr
    assert store.gc(max_size=10 * 1024**3).bytes_used == before


def test_the_budget_without_writes_in_progress(store: ModelStore) -> None:
    push(store, ONNX, "fraud:v1")
    result = store.gc(max_size=10 * 1024**3)
    assert result.bytes_used == sum(
        p.stat().st_size for p in store.layout.blobs.directory.iterdir()
    )
