"""Reproducible versions: the same files and card fields give the same manifest digest; when a
version was pushed lives in the history, not in its content (issue 12 item 14)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from inferd.card import ModelCard
from inferd.errors import InvalidArgument
from inferd.packaging import push, source_date
from inferd.store import ModelStore, media


def test_pushing_the_same_files_twice_gives_the_same_digest(
    store: ModelStore, model_dir: Path, tmp_path: Path
) -> None:
    first = push(store, model_dir, "fraud:v1", labels={"team": "risk"}, source_revision="abc")
    again = push(store, model_dir, "fraud:v2", labels={"team": "risk"}, source_revision="abc")
    elsewhere = push(
        ModelStore(tmp_path / "other-home"),
        model_dir,
        "fraud:v1",
        labels={"team": "risk"},
        source_revision="abc",
    )
    assert first.digest == again.digest == elsewhere.digest
    assert first.card.created is None
    manifest = store.layout.read_manifest(first.digest)
    assert media.ANNOTATION_CREATED not in manifest.annotations
    # A different card field is a different version.
    assert push(store, model_dir, "fraud:v3", labels={"team": "ops"}).digest != first.digest


def test_ls_and_inspect_take_the_push_time_from_the_history(
    store: ModelStore, model_dir: Path
) -> None:
    pushed = push(store, model_dir, "fraud:v1")
    push(store, model_dir, "fraud:v2")
    store.tag("fraud:v1", "fraud:prod")
    events = store.history("fraud")
    assert [(e.action, e.new) for e in events] == [("push", pushed.digest)] * 2 + [
        ("tag", pushed.digest)
    ]
    pushed_at = events[0].time
    assert events[1].time >= pushed_at
    assert {e.tag: e.created for e in store.list("fraud")} == {
        "prod": pushed_at,
        "v1": pushed_at,
        "v2": pushed_at,
    }
    assert store.created(store.resolve("fraud:v2")) == pushed_at


def test_a_declared_build_time_is_in_the_card_and_the_annotation(
    store: ModelStore, model_dir: Path, tmp_path: Path
) -> None:
    built = source_date({"SOURCE_DATE_EPOCH": "1700000000"})
    assert built == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    pushed = push(store, model_dir, "fraud:v1", created=built)
    assert pushed.card.created == built
    manifest = store.layout.read_manifest(pushed.digest)
    assert manifest.annotations[media.ANNOTATION_CREATED] == "2023-11-14T22:13:20+00:00"
    assert push(ModelStore(tmp_path / "b"), model_dir, "fraud:v1", created=built).digest == (
        pushed.digest
    )
    # Without a history record (a version another tool copied in), ls shows the declared time.
    store.layout.history_file.unlink()
    assert [e.created for e in store.list("fraud")] == [built]


@pytest.mark.parametrize("value", ["", None])
def test_no_source_date_epoch_declares_nothing(value: str | None) -> None:
    assert source_date({} if value is None else {"SOURCE_DATE_EPOCH": value}) is None


@pytest.mark.parametrize("value", ["17e8", "-1", "1.5", "soon", "\u0661\u0667"])
def test_a_malformed_source_date_epoch_is_refused(value: str) -> None:
    with pytest.raises(InvalidArgument, match="SOURCE_DATE_EPOCH"):
        source_date({"SOURCE_DATE_EPOCH": value})


def test_cards_written_with_a_push_time_still_load() -> None:
    """Versions pushed before this change carry ``created``: they keep it."""
    card = ModelCard.model_validate_json(
        '{"name": "fraud", "runtime": "onnx", "created": "2026-01-02T03:04:05.678901Z"}'
    )
    assert card.created == datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
