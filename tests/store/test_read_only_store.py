"""A store that can be read but not written (a volume mounted read-only into a serving pod, a
shared store of another user) still answers every read: the record of use that gc's size budget
orders evictions by is a hint, and failing to write it must not fail ``inspect``, ``pull`` or a
load of an already materialized version."""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from inferd.cli import main
from inferd.store import ModelStore

from .conftest import EXAMPLES

MODEL = EXAMPLES / "quickstart" / "fraud-v1"


@contextlib.contextmanager
def read_only(directory: Path) -> Iterator[None]:
    """Make ``directory`` and everything under it unwritable for this process: its permission
    bits for a user, a read-only bind mount for root (whom permission bits do not stop)."""
    if os.geteuid() != 0:
        dirs = [directory, *(p for p in directory.rglob("*") if p.is_dir())]
        for path in dirs:
            path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        try:
            yield
        finally:
            for path in dirs:
                path.chmod(path.stat().st_mode | stat.S_IWUSR)
        return
    mount = ["mount", "--bind", str(directory), str(directory)]
    if subprocess.run(mount, capture_output=True, check=False).returncode != 0:
        pytest.skip("root without the right to bind-mount: cannot make a store read-only")
    try:
        remount = ["mount", "-o", "remount,bind,ro", str(directory)]
        subprocess.run(remount, capture_output=True, check=True)
        yield
    finally:
        subprocess.run(["umount", str(directory)], capture_output=True, check=True)


def test_a_read_only_store_is_read(inferd_home: Path, tmp_path: Path) -> None:
    store = ModelStore(inferd_home)
    digest = CliRunner().invoke(main, ["push", str(MODEL), "fraud:v1"]).stdout.strip()
    built = store.materialize("fraud:v1").path
    (inferd_home / "access").rename(tmp_path / "access")  # never used here, as a fresh mount
    with read_only(inferd_home):
        inspected = CliRunner().invoke(main, ["inspect", "fraud:v1"])
        assert inspected.exit_code == 0, inspected.output
        assert digest in inspected.output
        pulled = CliRunner().invoke(main, ["pull", "fraud:v1", str(tmp_path / "out")])
        assert pulled.exit_code == 0, pulled.output
        assert (tmp_path / "out" / "model.onnx").read_bytes() == (MODEL / "model.onnx").read_bytes()
        assert ModelStore(inferd_home).materialize("fraud:v1").path == built
        assert ModelStore(inferd_home).resolve("fraud:v1").digest == digest
