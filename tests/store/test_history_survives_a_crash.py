"""A tag move and its history record agree across a crash: ``inferd tag`` killed after it wrote
``index.json`` and before it appended to the history moved the tag while ``inferd history``
never showed it. The move is journaled first (``inferd-history.jsonl.pending``) and settled by
the next command that takes the store lock, or reads the history: recorded when the index shows
the move, dropped when it does not, never twice.

Each case kills a child process (SIGKILL, nothing cleaned up) at one point of the move."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from inferd.packaging import push
from inferd.store import ModelStore

from .conftest import EXAMPLES

ONNX = EXAMPLES / "quickstart" / "fraud-v1" / "model.onnx"

#: Runs ``store.tag(SRC, DST)`` in a child with ``TARGET`` replaced by a function that kills
#: the process (after calling the original, with ``AFTER``).
_CHILD = """
import os, signal, sys
from pathlib import Path
from inferd.store import ModelStore, history, layout

home, target, after, verb = sys.argv[1:5]
owner = {"append": history, "write_index": layout.OciLayout}[target]
attr = target
original = getattr(owner, attr)

def killed(*args, **kwargs):
    if after == "1":
        original(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)

setattr(owner, attr, killed)
store = ModelStore(Path(home))
if verb == "tag":
    store.tag("fraud:v1", "fraud:prod")
else:
    store.untag("fraud:v1")
"""


def _killed(home: Path, target: str, *, after: bool, verb: str = "tag") -> None:
    child = [sys.executable, "-c", _CHILD, str(home), target, "1" if after else "0", verb]
    assert subprocess.run(child, check=False).returncode == -9


@pytest.fixture
def digest(store: ModelStore) -> str:
    return push(store, ONNX, "fraud:v1").digest


def _moves(store: ModelStore, action: str) -> list[tuple[str | None, str | None]]:
    return [(e.old, e.new) for e in store.history("fraud") if e.action == action]


def test_a_move_killed_before_its_history_record_is_recorded(
    store: ModelStore, inferd_home: Path, digest: str
) -> None:
    _killed(inferd_home, "append", after=False)

    assert store.resolve("fraud:prod").digest == digest
    assert _moves(store, "tag") == [(None, digest)]
    store.tag("fraud:v1", "fraud:v2")  # the next command under the lock records nothing twice
    assert _moves(store, "tag") == [(None, digest), (None, digest)]


def test_an_rm_killed_before_its_history_record_is_recorded(
    store: ModelStore, inferd_home: Path, digest: str
) -> None:
    _killed(inferd_home, "append", after=False, verb="rm")

    assert [t.tag for t in store.list("fraud")] == []
    assert _moves(store, "rm") == [(digest, None)]


def test_a_move_killed_before_the_index_write_is_not_recorded(
    store: ModelStore, inferd_home: Path, digest: str
) -> None:
    _killed(inferd_home, "write_index", after=False)

    assert [t.tag for t in store.list("fraud")] == ["v1"]
    assert _moves(store, "tag") == []
    store.tag("fraud:v1", "fraud:v2")
    assert _moves(store, "tag") == [(None, digest)]


def test_a_move_killed_after_its_history_record_is_recorded_once(
    store: ModelStore, inferd_home: Path, digest: str
) -> None:
    _killed(inferd_home, "append", after=True)

    assert _moves(store, "tag") == [(None, digest)]
    store.gc()  # takes the lock: the journal is settled without a second record
    assert _moves(store, "tag") == [(None, digest)]


def test_a_failed_index_write_records_no_move(
    store: ModelStore, digest: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(type(store.layout), "write_index", full)
    with pytest.raises(OSError, match="No space"):
        store.tag("fraud:v1", "fraud:prod")
    monkeypatch.undo()

    assert _moves(store, "tag") == []
    store.tag("fraud:v1", "fraud:prod")
    assert _moves(store, "tag") == [(None, digest)]
