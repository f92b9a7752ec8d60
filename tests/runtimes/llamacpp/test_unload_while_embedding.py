"""Unloading a version (a reload, ``unload`` on the control plane, an eviction) while an
embeddings request runs: the embeddings finish first, then the contexts are freed. Freeing them
under the running decode crashed the whole server (a segfault in llama.cpp); a request that
reaches the model once it is closed is refused (503), never run on freed memory."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import overload

import pytest

from inferd.card import ModelCard
from inferd.errors import Unavailable
from inferd.generation import Sampling
from inferd.runtimes.base import LoadOptions
from inferd.runtimes.llamacpp.runtime import LlamaCppRuntime, LlamaModel


class HeldTexts(Sequence[str]):
    """Texts whose reading stops after the first until :attr:`go` is set (an embeddings request
    caught in the middle, deterministically)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.reading = threading.Event()
        self.go = threading.Event()

    def __len__(self) -> int:
        return self.n

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[str]:
        for i in range(self.n):
            if i == 1:
                self.reading.set()
                self.go.wait()
            yield f"text number {i}"


@pytest.fixture
def own_model(tiny_file: Path, tmp_path: Path) -> LlamaModel:
    # A file of its own, so that closing this version frees its weights too.
    shutil.copy(tiny_file, tmp_path / "own.gguf")
    card = ModelCard(name="own", runtime="llamacpp", entrypoint="own.gguf")
    loaded = LlamaCppRuntime().load(tmp_path, card, LoadOptions(max_num_seqs=1))
    assert isinstance(loaded, LlamaModel)
    return loaded


def test_an_unload_waits_for_the_embeddings_under_way(own_model: LlamaModel) -> None:
    texts = HeldTexts(4)
    answer: list[tuple[list[list[float]], int]] = []
    embedding = threading.Thread(target=lambda: answer.append(own_model.embed(texts)))
    embedding.start()
    assert texts.reading.wait(60)
    closing = threading.Thread(target=own_model.close)
    closing.start()
    closing.join(0.5)  # room for a close that does not wait to free the contexts (the bug)
    texts.go.set()
    embedding.join(60)
    closing.join(60)
    assert not embedding.is_alive() and not closing.is_alive()
    vectors, tokens = answer[0]
    assert len(vectors) == 4 and all(len(v) == 64 for v in vectors) and tokens > 4


def test_a_closed_model_refuses_requests(own_model: LlamaModel) -> None:
    own_model.close()
    with pytest.raises(Unavailable, match="own is unloading"):
        own_model.embed(["hello"])
    with pytest.raises(Unavailable, match="own is unloading"):
        own_model.generate("hello", Sampling(max_tokens=2))
