"""``max_num_seqs`` and ``max_model_len`` (``inferd serve --max-num-seqs/--max-model-len``, the
spec's ``llm`` section) reach the llama.cpp context: its slots and each sequence's context."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from inferd.card import ModelCard
from inferd.errors import InvalidArgument
from inferd.generation import Sampling
from inferd.runtimes.base import LoadOptions
from inferd.runtimes.llamacpp.runtime import SLOTS, LlamaCppRuntime, LlamaModel


def load(tiny_file: Path, options: LoadOptions) -> LlamaModel:
    card = ModelCard(name="tiny", runtime="llamacpp", entrypoint=tiny_file.name)
    loaded = LlamaCppRuntime().load(tiny_file.parent, card, options)
    assert isinstance(loaded, LlamaModel)
    return loaded


def test_the_settings_size_the_slots_and_each_sequence_context(tiny_file: Path) -> None:
    model = load(tiny_file, LoadOptions(max_num_seqs=3, max_model_len=256))
    try:
        assert (model._context.slots, model.context_length) == (3, 256)

        async def ask() -> None:
            model.generate("hi", Sampling(max_tokens=300))

        with pytest.raises(InvalidArgument, match=r"over the context of 256 tokens per sequence"):
            asyncio.run(ask())
    finally:
        model.close()


def test_without_settings_the_runtime_defaults_hold(tiny_file: Path) -> None:
    model = load(tiny_file, LoadOptions())
    try:
        assert (model._context.slots, model.context_length) == (SLOTS, 512)  # trained: 512
    finally:
        model.close()


def test_a_context_over_the_trained_one_is_refused_at_load(tiny_file: Path) -> None:
    with pytest.raises(InvalidArgument, match=r"max_model_len 1024 is over the context the model "
                       r"was trained for \(512 tokens\)"):  # fmt: skip
        load(tiny_file, LoadOptions(max_model_len=1024))


def test_more_sequences_than_llama_cpp_decodes_together_are_refused_naming_both(
    tiny_file: Path,
) -> None:
    """--max-num-seqs takes up to 4,096 (vLLM's engine takes more than llama.cpp), but llama.cpp
    makes no context of more than 256 sequences: the load failed with "llama.cpp could not
    create a context (see the server log)"."""
    with pytest.raises(InvalidArgument, match=r"tiny: max_num_seqs 300 is over the 256 sequences "
                       r"llama\.cpp decodes together"):  # fmt: skip
        load(tiny_file, LoadOptions(max_num_seqs=300))
    model = load(tiny_file, LoadOptions(max_num_seqs=256, max_model_len=16))
    model.close()
