"""A pull taking longer than gc's grace period beside an ``inferd gc`` run by cron: the blobs
it downloaded first are unreferenced until the version is recorded, and were removed once older
than the grace period, so a slow pull of a large model was downloaded twice and then failed
("a concurrent gc kept removing blobs"). The pull now keeps its blobs young while it runs."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import numpy as np
import pytest

from inferd.packaging import push
from inferd.store import ModelStore, gc
from inferd.store.blobs import CHUNK
from inferd.store.remote import RegistrySettings

from .conftest import Stores


def test_a_pull_outliving_the_grace_period_keeps_its_blobs(
    store: ModelStore,
    repo: str,
    tmp_path: Path,
    settings: RegistrySettings,
    remote_store: Stores,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = tmp_path / "model"
    model.mkdir()
    np.save(model / "a.npy", np.arange(10, dtype=np.float32))
    np.save(model / "b.npy", np.zeros(3 * CHUNK // 4, dtype=np.float32))
    pushed = push(store, model, f"{repo}:v1", runtime="python")
    monkeypatch.setattr(gc, "RENEW_S", 0.0)  # renew at every report: no waiting

    # One blob at a time, in the manifest's order: the card, a.npy, then b.npy's many pieces.
    other = remote_store(tmp_path / "other-home", dataclasses.replace(settings, parallelism=1))
    blobs, aged = other.layout.blobs, set[Path]()
    gc_runs = 0

    def progress(done: int, total: int) -> None:
        nonlocal gc_runs
        if aged:  # the cron job's gc, long after those blobs arrived
            gc_runs += 1
            other.gc()
        for path in (blobs.path(d) for d in blobs.digests()):
            if path not in aged:  # downloaded long ago, as in a pull of a large model
                long_ago = time.time() - 2 * gc.GRACE_S
                os.utime(path, (long_ago, long_ago))
                aged.add(path)

    transfer = other.fetch(f"{repo}:v1", progress=progress)

    assert gc_runs >= 2 and transfer.digest == pushed.digest
    assert transfer.transferred == 3  # each blob once: none had to be downloaded again
    out = other.pull(f"{repo}:v1", tmp_path / "out")
    assert (out / "a.npy").read_bytes() == (model / "a.npy").read_bytes()
