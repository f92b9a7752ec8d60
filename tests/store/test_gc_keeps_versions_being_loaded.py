"""A load holds its materialized directory (a shared flock on it) and ``gc``, evicting down to a
budget or removing an untagged version's copy, leaves a held directory whole; the hold dies with
the process that took it, so a crashed server pins nothing."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from inferd.packaging import push
from inferd.store import ModelStore
from inferd.store.materialized import Hold

from .conftest import EXAMPLES

ONNX = EXAMPLES / "quickstart" / "fraud-v1" / "model.onnx"

_HOLDER = """
import sys
from pathlib import Path

import pytest
from inferd.store.materialized import Hold
hold = Hold(Path(sys.argv[1]))
print("held", flush=True)
sys.stdin.read()  # until killed
"""


def _materialized(store: ModelStore) -> Path:
    push(store, ONNX, "fraud:v1")
    return store.materialize("fraud:v1").path


def test_a_held_directory_survives_an_eviction_and_goes_once_released(
    store: ModelStore,
) -> None:
    directory = _materialized(store)

    with Hold(directory):
        result = store.gc(max_size=1)
        assert directory.is_dir()
        assert result.models_removed == 0
        assert (directory / "model.onnx").is_file()

    assert store.gc(max_size=1).models_removed == 1
    assert not directory.exists()


def test_an_untagged_version_being_loaded_keeps_its_directory(store: ModelStore) -> None:
    directory = _materialized(store)
    store.untag("fraud:v1")

    with Hold(directory):
        store.gc()
        assert (directory / "model.onnx").is_file()

    store.gc()
    assert not directory.exists()


def test_a_killed_holder_pins_nothing(store: ModelStore) -> None:
    directory = _materialized(store)
    command = [sys.executable, "-c", _HOLDER, str(directory)]
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as holder:
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline() == "held\n"
            store.gc(max_size=1)
            assert directory.is_dir()
        finally:
            holder.send_signal(signal.SIGKILL)
            holder.wait()

    store.gc(max_size=1)
    assert not directory.exists()


def test_a_hold_on_a_directory_gc_removed_says_it_is_gone(store: ModelStore) -> None:
    directory = _materialized(store)
    store.gc(max_size=1)
    with pytest.raises(FileNotFoundError):
        Hold(directory)
