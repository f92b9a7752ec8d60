"""The first embeddings request of a version logged llama.cpp's WARNING that the model's default
pooling differs from the one asked for: inferd asks for mean pooling on purpose (a generative
GGUF names none), so the warning was noise an operator would chase. It is logged at DEBUG."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from inferd.card import ModelCard
from inferd.runtimes.base import LoadOptions
from inferd.runtimes.llamacpp.runtime import LlamaCppRuntime, LlamaModel


def test_the_first_embeddings_log_no_warning_about_pooling(
    tiny_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    card = ModelCard(name="tiny", runtime="llamacpp", entrypoint=tiny_file.name)
    model = LlamaCppRuntime().load(tiny_file.parent, card, LoadOptions())
    assert isinstance(model, LlamaModel)
    try:
        with caplog.at_level(logging.DEBUG, logger="inferd.runtimes.llamacpp.library"):
            vectors, _ = model.embed(["the cat"])  # makes the embedding context
        assert len(vectors) == 1
        about_pooling = [r for r in caplog.records if "pooling_type" in r.getMessage()]
        assert about_pooling, "llama.cpp no longer says it: this test checks nothing"
        assert all(r.levelno == logging.DEBUG for r in about_pooling)
    finally:
        model.close()
