"""``inferd gc`` removes the access markers (``access/<manifest-hex>``, the LRU record of
``gc --max-size``) of versions whose manifest it deleted, so a store that pushes and removes
versions for months does not keep one file per version it ever used."""

from __future__ import annotations

import os
import time
from pathlib import Path

from inferd.packaging import push
from inferd.store import ModelStore
from inferd.store.gc import GRACE_S

from .conftest import make_model_dir


def test_the_access_marker_of_a_collected_version_goes_with_it(
    store: ModelStore, tmp_path: Path
) -> None:
    gone = push(store, make_model_dir(tmp_path / "a", weights=b"one" * 1000), "fraud:v1")
    kept = push(store, make_model_dir(tmp_path / "b", weights=b"two" * 1000), "fraud:v2")
    store.materialize("fraud:v1")
    store.materialize("fraud:v2")
    access = store.root / "access"
    assert {p.name for p in access.iterdir()} == {
        d.removeprefix("sha256:") for d in (gone.digest, kept.digest)
    }
    store.untag("fraud:v1")
    store.gc()  # its blobs are young: kept, and so is its marker
    assert (access / gone.digest.removeprefix("sha256:")).exists()

    old = time.time() - GRACE_S - 60
    for path in store.layout.blobs.directory.iterdir():
        os.utime(path, (old, old))
    store.gc()
    assert {p.name for p in access.iterdir()} == {kept.digest.removeprefix("sha256:")}
