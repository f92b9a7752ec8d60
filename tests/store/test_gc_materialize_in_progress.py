"""``gc`` beside a materialize of a large version (``inferd serve`` loading a model of tens of
GB): the directory being built (``models/.tmp-*``) gets no new entry while one big file is
written into it, so its own time grew older than the grace period and gc removed it from under
the load. A build is debris only when nothing in it was written for the grace period."""

from __future__ import annotations

import os
import time

from inferd.packaging import push
from inferd.store import ModelStore, gc
from inferd.store.atomic import TEMP_PREFIX, staged

from .conftest import EXAMPLES

ONNX = EXAMPLES / "quickstart" / "fraud-v1" / "model.onnx"


def test_a_build_still_being_written_is_kept(store: ModelStore) -> None:
    push(store, ONNX, "fraud:v1")
    store.models.mkdir(parents=True, exist_ok=True)
    building = store.models / f"{TEMP_PREFIX}build"
    (building / "weights").mkdir(parents=True)
    long_ago = time.time() - 2 * gc.GRACE_S
    with staged(building / "weights") as big:  # a large file, still being written
        big.handle.write(b"\0" * 1024)
        big.handle.flush()
        for directory in (building / "weights", building):  # made long ago
            os.utime(directory, (long_ago, long_ago))

        store.gc()
        assert big.path.is_file()

    os.utime(building / "weights", (long_ago, long_ago))
    os.utime(building, (long_ago, long_ago))
    store.gc()  # nothing written for the grace period: debris of a crash
    assert not building.exists()
