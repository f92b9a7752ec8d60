"""LoRA adapters over a base on the real llama.cpp: the base's weights are loaded once for
every version over it, each adapter changes what the model says, and one that does not fit
its base is refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from inferd.card import LlmCard, ModelCard
from inferd.errors import InvalidArgument
from inferd.generation import Sampling
from inferd.runtimes.base import LoadOptions
from inferd.runtimes.llamacpp.runtime import _SHARED, LlamaCppRuntime, LlamaModel
from llm_files import tiny_adapter


def adapter_card(file: Path) -> ModelCard:
    llm = LlmCard(format="gguf", architecture="llama", parameters=1, adapter="lora",
                  base="llm@sha256:" + "0" * 64)  # fmt: skip
    return ModelCard(name="support", runtime="llamacpp", entrypoint=file.name, llm=llm)


async def greedy(model: LlamaModel) -> str:
    generation = model.generate("hello there", Sampling(temperature=0, max_tokens=16))
    return "".join([c.text async for c in generation])


def test_adapters_share_the_base_and_change_its_answers(
    model: LlamaModel, tiny_file: Path, tmp_path: Path
) -> None:
    runtime = LlamaCppRuntime()
    options = LoadOptions(base=tiny_file)
    loaded = []
    try:
        for seed in (1, 2):
            (tmp_path / f"adapter-{seed}").mkdir()
            file = tiny_adapter(tmp_path / f"adapter-{seed}" / "a.gguf", seed=seed)
            loaded.append(runtime.load(file.parent, adapter_card(file), options))
        # The module's base model and both adapters hold one copy of the weights.
        assert _SHARED.holders(tiny_file) == 3
        answers = [asyncio.run(greedy(m)) for m in (model, *loaded)]  # type: ignore[arg-type]
        assert len(set(answers)) == 3, answers
    finally:
        for m in loaded:
            m.close()
    assert _SHARED.holders(tiny_file) == 1


def test_an_adapter_needs_its_base_and_must_fit_it(tiny_file: Path, tmp_path: Path) -> None:
    runtime = LlamaCppRuntime()
    file = tiny_adapter(tmp_path / "a.gguf")
    with pytest.raises(InvalidArgument, match=r"is an adapter over llm@sha256:0+: load it with"):
        runtime.load(tmp_path, adapter_card(file), LoadOptions())
    wide = tmp_path / "wide"
    wide.mkdir()
    misfit = tiny_adapter(wide / "w.gguf", width=32)
    with pytest.raises(
        InvalidArgument, match=r"could not apply the LoRA adapter w\.gguf over llm@"
    ):
        runtime.load(wide, adapter_card(misfit), LoadOptions(base=tiny_file))
    assert _SHARED.holders(tiny_file) <= 1  # nothing held by the failed load
