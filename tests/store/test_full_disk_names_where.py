"""A disk that fills up during a push or a pull is named: the store's blob directory, or the
pull's destination, so that the user knows which disk to free (the store and the destination
are often on different ones). It keeps the "too large" status (9) and leaves no partial file."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from inferd.cli import main

from .conftest import EXAMPLES

ONNX = EXAMPLES / "quickstart" / "fraud-v1" / "model.onnx"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB filesystem (a tmpfs: the test needs root and the right to mount)."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root")
    command = ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)]
    if subprocess.run(command, capture_output=True, check=False).returncode != 0:
        pytest.skip("no right to mount a tmpfs here")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True, check=True)


@pytest.fixture
def model(tmp_path: Path) -> Path:
    """model.onnx and 2 MB of weights: more than the small disk holds."""
    directory = tmp_path / "model"
    directory.mkdir()
    (directory / "model.onnx").write_bytes(ONNX.read_bytes())
    np.save(directory / "weights.npy", np.random.default_rng(0).random(250_000))
    return directory


def test_a_push_onto_a_full_disk_names_the_store(small_disk: Path, model: Path) -> None:
    home = small_disk / "home"
    result = CliRunner().invoke(
        main, ["push", str(model), "big:v1", "--runtime", "onnx"], env={"INFERD_HOME": str(home)}
    )
    assert result.exit_code == 9, result.output
    blobs = home / "store" / "blobs" / "sha256"
    assert result.stderr.startswith(f"error: '{blobs}': No space left on device"), result.stderr
    assert [p for p in blobs.iterdir() if p.name.startswith(".tmp-")] == []


def test_a_pull_onto_a_full_disk_names_the_destination(
    small_disk: Path, model: Path, inferd_home: Path
) -> None:
    pushed = CliRunner().invoke(main, ["push", str(model), "big:v1", "--runtime", "onnx"])
    assert pushed.exit_code == 0, pushed.output
    dest = small_disk / "out"
    result = CliRunner().invoke(main, ["pull", "big:v1", str(dest)])
    assert result.exit_code == 9, result.output
    assert result.stderr.startswith(f"error: '{dest}': No space left on device"), result.stderr
    assert [p.name for p in dest.iterdir() if p.name.startswith(".tmp-")] == []
