"""Eight real processes pushing and tagging at once leave a valid layout and a full history."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from inferd.packaging import push
from inferd.store import ModelStore

from .conftest import make_model_dir

WORKERS = 8


def _inferd() -> str:
    return str(Path(sys.executable).parent / "inferd")


def test_eight_processes_pushing_and_tagging(inferd_home: Path, tmp_path: Path) -> None:
    shared = make_model_dir(tmp_path / "shared", weights=b"shared" * 5000)
    scripts = []
    for i in range(WORKERS):
        own = make_model_dir(tmp_path / f"m{i}", weights=f"weights-{i}".encode() * 5000)
        name = f"team/m{i % 2}"
        scripts.append(
            f"{_inferd()} push -q {own} {name}:v{i} && "
            f"{_inferd()} tag {name}:v{i} {name}:prod && "
            f"{_inferd()} push -q {shared} shared:latest"
        )
    env = {**os.environ, "INFERD_HOME": str(inferd_home)}
    procs = [
        subprocess.Popen(["sh", "-c", s], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for s in scripts
    ]
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()

    store = ModelStore(inferd_home)
    tags = {(e.name, e.tag): e.digest for e in store.list()}
    expected = {(f"team/m{i % 2}", f"v{i}") for i in range(WORKERS)}
    expected |= {("team/m0", "prod"), ("team/m1", "prod"), ("shared", "latest")}
    assert set(tags) == expected
    for name in ("team/m0", "team/m1"):
        versions = {tags[(n, t)] for (n, t) in tags if n == name and t != "prod"}
        assert tags[(name, "prod")] in versions

    # Every tagged version is intact: manifests, cards and files verify end to end.
    for name, tag in tags:
        store.pull(f"{name}:{tag}", tmp_path / "pulled" / name / tag)

    # The history holds every move, in an order consistent with the final state.
    for name in ("team/m0", "team/m1"):
        events = store.history(name)
        assert sorted(e.action for e in events) == ["push"] * 4 + ["tag"] * 4
        last = {e.tag: e.new for e in events}
        assert last == {t: d for (n, t), d in tags.items() if n == name}
    shared_events = store.history("shared")
    assert [e.action for e in shared_events] == ["push"] * WORKERS
    assert shared_events[0].old is None
    assert all(e.old == p.new for p, e in itertools.pairwise(shared_events))
    assert shared_events[-1].new == tags[("shared", "latest")]

    blobs = store.root / "store" / "blobs" / "sha256"
    assert not [p for p in blobs.iterdir() if p.name.startswith(".tmp-")]


def test_concurrent_materialize_yields_one_complete_directory(
    store: ModelStore, model_dir: Path
) -> None:
    pushed = push(store, model_dir, "fraud:v1")
    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(lambda _: store.materialize("fraud:v1"), range(WORKERS)))
    paths = {r.path for r in results}
    assert paths == {store.root / "models" / pushed.digest.removeprefix("sha256:")}
    (path,) = paths
    assert (path / "model.bin").read_bytes() == (model_dir / "model.bin").read_bytes()
    assert (path / "assets" / "vocab.txt").read_text() == "a\nb\nc\n"
    # The directory and its stamp (inferd.store.materialized), and no temp directory left.
    assert sorted(p.name for p in (store.root / "models").iterdir()) == [
        path.name,
        f"{path.name}.stamp",
    ]
