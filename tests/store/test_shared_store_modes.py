"""A store shared by a group (``umask 002`` in a setgid directory, as git's
``core.sharedRepository=group``) or kept private (``umask 077``): the files every command opens
for writing — the lock, the history — and the materialized versions take their modes from the
umask of whoever made them, so a second user of the group can push, tag and serve. (They were
made ``0644`` and ``0700`` whatever the umask: the group could neither lock nor append, and
read no version another user had materialized.)"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from inferd.packaging import push
from inferd.store import ModelStore

from .conftest import EXAMPLES

ONNX = EXAMPLES / "quickstart" / "fraud-v1" / "model.onnx"


@pytest.fixture
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    mask: int = request.param
    old = os.umask(mask)
    try:
        yield mask
    finally:
        os.umask(old)


@pytest.mark.parametrize("umask", [0o002, 0o022, 0o077], indirect=True)
def test_modes_follow_the_umask(inferd_home: Path, umask: int) -> None:
    home = inferd_home / "shared"
    store = ModelStore(home)
    push(store, ONNX, "fraud:v1")
    model = store.materialize("fraud:v1").path

    def mode(path: Path) -> int:
        return path.stat().st_mode & 0o777

    assert mode(home / "store" / "inferd.lock") == 0o666 & ~umask
    assert mode(home / "store" / "inferd-history.jsonl") == 0o666 & ~umask
    assert mode(model) == 0o777 & ~umask
    assert mode(model / "model.onnx") == 0o444  # the store's files stay read-only
