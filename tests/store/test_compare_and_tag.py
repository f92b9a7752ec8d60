"""compare_and_tag: a tag moves only while it still points where the caller last saw it (how a
rollout promotes, or moves back, without overwriting a person's ``inferd tag``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from inferd.errors import InvalidArgument
from inferd.packaging import push
from inferd.store import ModelStore

from .conftest import make_model_dir


def _two_versions(store: ModelStore, tmp_path: Path) -> tuple[str, str]:
    v1 = push(store, make_model_dir(tmp_path / "v1"), "m:v1").digest
    v2 = push(store, make_model_dir(tmp_path / "v2", weights=b"weights-v2" * 1000), "m:v2").digest
    return v1, v2


def test_the_tag_moves_only_from_where_it_was_expected(store: ModelStore, tmp_path: Path) -> None:
    v1, v2 = _two_versions(store, tmp_path)
    assert store.compare_and_tag("m:v1", "m:production", None)  # absent, as expected
    assert store.resolve("m:production").digest == v1
    # Someone else moved it (or it was never where we thought): nothing changes.
    assert not store.compare_and_tag("m:v2", "m:production", None)
    assert not store.compare_and_tag("m:v2", "m:production", v2)
    assert store.resolve("m:production").digest == v1
    assert store.compare_and_tag("m:v2", "m:production", v1, detail="rollout r-1 promoted v2")
    assert store.resolve("m:production").digest == v2
    moves = [(e.old, e.new, e.detail) for e in store.history("m") if e.tag == "production"]
    assert moves == [(None, v1, None), (v1, v2, "rollout r-1 promoted v2")]


def test_a_tag_already_there_is_not_moved_again(store: ModelStore, tmp_path: Path) -> None:
    v1, _ = _two_versions(store, tmp_path)
    store.tag("m:v1", "m:production")
    assert store.compare_and_tag(f"m@{v1}", "m:production", v1)
    assert len([e for e in store.history("m") if e.tag == "production"]) == 1


def test_only_local_tags_of_one_name(store: ModelStore, tmp_path: Path) -> None:
    _two_versions(store, tmp_path)
    with pytest.raises(InvalidArgument):
        store.compare_and_tag("m:v1", "other:production", None)
