"""A push that takes longer than gc's grace period (a large model, a slow disk) beside an
``inferd gc`` run by cron: the blobs it wrote first are unreferenced until it tags them, and
were removed as debris once older than the grace period, so the push failed ("a concurrent gc
removed blobs of this push") however often it was retried. The push now keeps its blobs young
while it runs."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import numpy as np
import pytest

from inferd.packaging import push
from inferd.store import ModelStore, gc
from inferd.store.blobs import CHUNK, sha256_digest


def _model(directory: Path) -> tuple[Path, int]:
    """``a.npy`` (small), then ``b.npy`` (several chunks); return the directory and a's size."""
    directory.mkdir()
    np.save(directory / "a.npy", np.arange(10, dtype=np.float32))
    np.save(directory / "b.npy", np.zeros(3 * CHUNK // 4, dtype=np.float32))
    return directory, (directory / "a.npy").stat().st_size


def test_a_push_outliving_the_grace_period_keeps_its_blobs(
    store: ModelStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gc, "RENEW_S", 0.0)  # renew at every report: no waiting
    model, first = _model(tmp_path / "model")
    a_blob = store.layout.blobs.path(sha256_digest(hashlib.sha256((model / "a.npy").read_bytes())))
    reports: list[int] = []

    def progress(done: int, total: int) -> None:
        reports.append(done)
        writing_b = [d for d in reports if d > first]
        if len(writing_b) == 1:  # b.npy started: a.npy's blob was written long ago
            long_ago = time.time() - 2 * gc.GRACE_S
            os.utime(a_blob, (long_ago, long_ago))
        elif len(writing_b) == 2:  # the cron job's gc runs while b.npy is being written
            store.gc()

    pushed = push(store, model, "fraud:v1", runtime="python", progress=progress)

    assert len([d for d in reports if d > first]) >= 2  # the gc did run mid-push
    assert a_blob.is_file()
    out = store.pull("fraud:v1", tmp_path / "out")
    assert (out / "a.npy").read_bytes() == (model / "a.npy").read_bytes()
    assert store.resolve("fraud:v1").digest == pushed.digest
