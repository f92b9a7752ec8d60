"""Garbage collection keeps what is referenced; the history is complete and append-only."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from inferd.packaging import push
from inferd.store import ModelStore
from inferd.store.gc import GRACE_S

from .conftest import make_model_dir


def _age(path: Path, seconds: float = GRACE_S + 60) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old), follow_symlinks=False)


def _age_all(store: ModelStore) -> None:
    for path in (store.root / "store" / "blobs" / "sha256").iterdir():
        _age(path)


def test_gc_removes_only_unreferenced_blobs_and_untagged_models(
    store: ModelStore, tmp_path: Path
) -> None:
    v1 = push(store, make_model_dir(tmp_path / "a", weights=b"one" * 1000), "fraud:v1")
    v2 = push(store, make_model_dir(tmp_path / "b", weights=b"two" * 1000), "fraud:v2")
    kept_dir = store.materialize("fraud:v2").path
    dropped_dir = store.materialize("fraud:v1").path
    store.untag("fraud:v1")
    v1_blobs = store.layout.read_manifest(v1.digest).digests() | {v1.digest}
    v2_blobs = store.layout.read_manifest(v2.digest).digests() | {v2.digest}
    only_v1 = v1_blobs - v2_blobs
    assert only_v1

    # Young unreferenced blobs may belong to a push in progress: kept.
    result = store.gc()
    assert result.blobs_removed == 0
    assert all(store.layout.blobs.exists(d) for d in v1_blobs)
    assert result.models_removed == 1
    assert not dropped_dir.exists()
    assert kept_dir.is_dir()

    _age_all(store)
    freed = sum(store.layout.blobs.size(d) for d in only_v1)
    stale_temp = store.layout.blobs.directory / ".tmp-crashed"
    stale_temp.write_bytes(b"partial")
    _age(stale_temp)
    young_temp = store.layout.blobs.directory / ".tmp-inflight"
    young_temp.write_bytes(b"partial")
    result = store.gc()
    assert result.blobs_removed == len(only_v1)
    assert result.bytes_freed == freed
    assert not any(store.layout.blobs.exists(d) for d in only_v1)
    assert all(store.layout.blobs.exists(d) for d in v2_blobs)
    assert not stale_temp.exists()
    assert young_temp.exists()
    assert store.resolve("fraud:v2").digest == v2.digest
    assert store.pull("fraud:v2", tmp_path / "out").is_dir()
    assert store.gc().blobs_removed == 0


def test_history_records_every_move_and_only_appends(store: ModelStore, tmp_path: Path) -> None:
    v1 = push(store, make_model_dir(tmp_path / "a", weights=b"one"), "fraud:v1")
    store.tag("fraud:v1", "fraud:prod")
    push(store, make_model_dir(tmp_path / "other"), "other:v1")
    log = store.root / "store" / "inferd-history.jsonl"
    before = log.read_bytes()

    v2 = push(store, make_model_dir(tmp_path / "b", weights=b"two"), "fraud:v2")
    store.tag("fraud:v2", "fraud:prod")
    store.untag("fraud:v1")
    after = log.read_bytes()
    assert after.startswith(before)

    events = store.history("fraud")
    assert [(e.tag, e.action, e.old, e.new) for e in events] == [
        ("v1", "push", None, v1.digest),
        ("prod", "tag", None, v1.digest),
        ("v2", "push", None, v2.digest),
        ("prod", "tag", v1.digest, v2.digest),
        ("v1", "rm", v1.digest, None),
    ]
    assert all(e.user and e.host and e.time.tzinfo is not None for e in events)
    assert [e.action for e in store.history("other")] == ["push"]
    assert store.history("nothing") == []


def test_a_crash_mid_append_never_damages_later_events(store: ModelStore, tmp_path: Path) -> None:
    push(store, make_model_dir(tmp_path / "a"), "fraud:v1")
    log = store.root / "store" / "inferd-history.jsonl"
    with log.open("ab") as handle:
        handle.write(b'{"name": "fraud", "tag": "v2", "act')  # a crash mid-append
    assert [e.tag for e in store.history("fraud")] == ["v1"]
    store.tag("fraud:v1", "fraud:prod")
    assert [e.tag for e in store.history("fraud")] == ["v1", "prod"]


def test_gc_keeps_what_another_oci_tool_tagged(
    store: ModelStore, tmp_path: Path, skopeo: str
) -> None:
    """skopeo copies our artifact to a second tag in the same layout; gc must keep its blobs."""
    pushed = push(store, make_model_dir(tmp_path / "a"), "fraud:v1")
    layout = store.root / "store"
    subprocess.run(
        [skopeo, "copy", f"oci:{layout}:fraud:v1", f"oci:{layout}:mirror:v1"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    store.untag("fraud:v1")
    _age_all(store)
    assert store.gc().blobs_removed == 0
    assert [(e.name, e.digest) for e in store.list()] == [("mirror", pushed.digest)]
    assert (store.pull("mirror:v1", tmp_path / "out") / "model.bin").is_file()
