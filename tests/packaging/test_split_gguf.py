"""A GGUF model split in several files (``gguf-split``'s ``NAME-00001-of-0000N.gguf``, how big
models are published): llama.cpp loads it from its first file and finds the others beside it.
Its card counts every split (not only the first), lists each as weights, and a push that lacks a
split, or names a later split as the entry point, is refused: llama.cpp could not load it."""

from __future__ import annotations

from pathlib import Path

import gguf
import pytest

from inferd.errors import InvalidArgument
from inferd.packaging import push
from inferd.store import ModelStore
from llm_files import make_model_module, tiny_adapter

FIRST, SECOND, THIRD = (f"tiny-0000{i}-of-00003.gguf" for i in (1, 2, 3))


@pytest.fixture
def store(inferd_home: Path) -> ModelStore:
    return ModelStore(inferd_home)


def split_model(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tiny model in three files of at most 8 tensors each."""
    folder.mkdir(parents=True)
    writer = gguf.GGUFWriter

    def splitting(path: Path, arch: str) -> gguf.GGUFWriter:
        return writer(path, arch, split_max_tensors=8)

    with monkeypatch.context() as patch:
        patch.setattr(make_model_module.gguf, "GGUFWriter", splitting)
        make_model_module.make_model(folder / "tiny.gguf")
    assert sorted(p.name for p in folder.iterdir()) == [FIRST, SECOND, THIRD]
    (folder / "inferd.model.yaml").write_text(f"entrypoint: {FIRST}\n")
    return folder


def test_a_split_model_is_described_from_every_split(
    store: ModelStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    card = push(store, split_model(tmp_path / "split", monkeypatch), "tiny:split").card
    assert card.entrypoint == FIRST and card.llm is not None
    assert card.llm.parameters == 116_288  # the whole model, as in one file
    assert card.llm.tensor_types == {"F16": 115_968, "F32": 320}
    assert [(f.path, f.role) for f in card.llm.files] == [
        (FIRST, "weights"), (SECOND, "weights"), (THIRD, "weights"),
    ]  # fmt: skip


def test_an_adapter_fits_a_split_base(
    store: ModelStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The adapter changes tensors of every split, not only the first's.
    push(store, split_model(tmp_path / "split", monkeypatch), "tiny:split")
    adapter = push(store, tiny_adapter(tmp_path / "a.gguf"), "tiny:a", base="tiny:split").card
    assert adapter.llm is not None and adapter.llm.adapter == "lora"


def test_a_split_missing_is_refused(
    store: ModelStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = split_model(tmp_path / "split", monkeypatch)
    (folder / SECOND).unlink()
    with pytest.raises(InvalidArgument, match=f"'{SECOND}' is not among the files"):
        push(store, folder, "tiny:split")
    assert not store.list("tiny")


def test_a_later_split_as_entry_point_is_refused(
    store: ModelStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = split_model(tmp_path / "split", monkeypatch)
    (folder / "inferd.model.yaml").write_text(f"entrypoint: {SECOND}\n")
    with pytest.raises(InvalidArgument, match=f"split 2 of 3.*name '{FIRST}'"):
        push(store, folder, "tiny:split")
