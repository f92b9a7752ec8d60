"""The tiny llama GGUF loaded by the real llama.cpp runtime (``inferd[llm]``; in CI it is
installed, never skipped)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from llm_files import tiny_gguf

if os.environ.get("CI") != "true":
    pytest.importorskip("llama_cpp", reason="the llm extra is not installed (make test does)")

from inferd.card import ModelCard
from inferd.runtimes.base import LoadOptions
from inferd.runtimes.llamacpp.runtime import LlamaCppRuntime, LlamaModel


@pytest.fixture(scope="session")
def tiny_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_gguf(tmp_path_factory.mktemp("tiny") / "tiny-llama.gguf")


@pytest.fixture(scope="module")
def model(tiny_file: Path) -> Iterator[LlamaModel]:
    card = ModelCard(name="tiny", runtime="llamacpp", entrypoint=tiny_file.name)
    loaded = LlamaCppRuntime().load(tiny_file.parent, card, LoadOptions())
    assert isinstance(loaded, LlamaModel)
    yield loaded
    loaded.close()
