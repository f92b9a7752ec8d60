"""The local cache: pulled versions survive gc, and ``gc --max-size`` evicts least recently used."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from click.testing import CliRunner

from inferd.cli import main
from inferd.cli.store_cmds import parse_size
from inferd.packaging import push
from inferd.store import ModelStore
from inferd.store.cache import ACCESS_DIR, usage

from ..conftest import make_model_dir


def _age(store: ModelStore, digest: str, seconds_ago: float) -> None:
    """Pretend the version was last used ``seconds_ago`` (access markers are plain mtimes)."""
    marker = store.root / ACCESS_DIR / digest.removeprefix("sha256:")
    stamp = time.time() - seconds_ago
    os.utime(marker, (stamp, stamp))


def _blobs(store: ModelStore, digest: str) -> set[str]:
    """The manifest ``digest`` and every blob it references."""
    return {digest, *store.layout.read_manifest(digest).digests()}


def test_pulled_versions_survive_gc_and_lru_ones_go_first_under_a_budget(
    store: ModelStore, repo: str, tmp_path: Path
) -> None:
    v1 = make_model_dir(tmp_path / "v1", weights=b"one" * 100_000)
    v2 = make_model_dir(tmp_path / "v2", weights=b"two" * 100_000)
    local = make_model_dir(tmp_path / "local", weights=b"mine" * 100_000)
    old = push(store, v1, f"{repo}:v1").digest
    new = push(store, v2, f"{repo}:v2").digest
    mine = push(store, local, "mine:v1").digest
    store.materialize(f"{repo}:v1")
    store.materialize(f"{repo}:v2")
    store.materialize("mine:v1")

    plain = store.gc()
    assert (plain.blobs_removed, plain.models_removed) == (0, 0)
    assert store.resolve(f"{repo}@{old}").digest == old  # still cached: no network needed

    _age(store, old, 300)
    _age(store, mine, 200)
    _age(store, new, 100)
    before = usage(store.layout, store.models)
    only_old = _blobs(store, old) - _blobs(store, new) - _blobs(store, mine)
    # Room for everything but one version's weights and a materialized copy: v1 goes first.
    result = store.gc(max_size=before - 400_000)
    assert result.versions_evicted == 1
    assert result.blobs_removed == len(only_old)  # its manifest and weights, not shared files
    assert result.bytes_used is not None and result.bytes_used <= before - 400_000
    assert not store.layout.blobs.exists(old)
    assert store.layout.blobs.exists(new)
    assert not (store.models / old.removeprefix("sha256:")).exists()

    # A budget of nothing leaves only what the user tagged locally (its files stay in blobs).
    squeezed = store.gc(max_size=0)
    assert squeezed.versions_evicted == 1
    assert [e.tag for e in store.list("mine")] == ["v1"]
    assert store.materialize("mine:v1").digest == mine
    assert store.resolve(f"{repo}:v2").digest == new  # pulled again on demand


def test_the_cli_gc_takes_a_size(store: ModelStore, repo: str, model: Path) -> None:
    blobs = _blobs(store, push(store, model, f"{repo}:v1").digest)
    result = CliRunner().invoke(main, ["gc", "--max-size", "0", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["versions_evicted"] == 1
    assert report["blobs_removed"] == len(blobs) == 6  # manifest, card, 4 files: all deleted
    assert list(store.layout.blobs.digests()) == []
    bad = CliRunner().invoke(main, ["gc", "--max-size", "lots"])
    assert bad.exit_code == 2
    assert "not a size" in bad.output
    assert parse_size("10G") == 10 * 1024**3
    assert parse_size("512MiB") == 512 * 1024**2
    assert parse_size("1.5k") == 1536
    assert parse_size("2048") == 2048
