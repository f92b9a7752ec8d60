"""A LoRA adapter that updates the token embeddings (PEFT's ``embed_tokens`` among its target
modules, converted by llama.cpp's ``convert_lora_to_gguf.py``) stores that update flipped:
llama.cpp looks the tokens up in ``lora_a`` (``[rank, n_vocab]``) and multiplies by ``lora_b``
(``[rank, n_embd]``), and checks those shapes, not the other tensors'. Push checked every update
by the other tensors' rule, so it refused an adapter llama.cpp loads; an embedding update
llama.cpp could not use is still refused, naming it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import gguf
import numpy as np
import pytest

from inferd.errors import InvalidArgument
from inferd.generation import Sampling
from inferd.packaging import push
from inferd.runtimes.base import LoadOptions
from inferd.runtimes.llamacpp.runtime import LlamaCppRuntime, LlamaModel
from inferd.store import ModelStore
from llm_files import make_model_module

EMBEDDING, VOCABULARY, RANK = 64, 266, 4


def adapter(path: Path, embd_a: tuple[int, int], embd_b: tuple[int, int]) -> Path:
    """An adapter of ``blk.0.attn_q`` and ``token_embd``, whose updates have the ggml shapes
    ``embd_a`` and ``embd_b``."""
    rng = np.random.default_rng(3)

    def tensor(ne: tuple[int, int]) -> np.ndarray:
        return (rng.standard_normal(ne[::-1]) * 0.5).astype(np.float32)  # numpy's are reversed

    writer = gguf.GGUFWriter(path, make_model_module.ARCH)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, 8.0)
    writer.add_tensor("blk.0.attn_q.weight.lora_a", tensor((EMBEDDING, RANK)))
    writer.add_tensor("blk.0.attn_q.weight.lora_b", tensor((RANK, EMBEDDING)))
    writer.add_tensor("token_embd.weight.lora_a", tensor(embd_a))
    writer.add_tensor("token_embd.weight.lora_b", tensor(embd_b))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_a_token_embedding_update_is_pushed_and_served(
    inferd_home: Path, tiny_file: Path, model: LlamaModel, tmp_path: Path
) -> None:
    store = ModelStore(inferd_home)
    push(store, tiny_file, "llm:base-1")
    (tmp_path / "a").mkdir()
    file = adapter(tmp_path / "a" / "embd.gguf", (RANK, VOCABULARY), (RANK, EMBEDDING))
    version = push(store, file, "llm:embd", base="llm:base-1")
    assert version.card.llm is not None and version.card.llm.adapter == "lora"

    # llama.cpp applies it (the same rule), and it changes what the model says.
    loaded = LlamaCppRuntime().load(file.parent, version.card, LoadOptions(base=tiny_file))
    try:

        async def greedy(m: LlamaModel) -> str:
            generation = m.generate("hello there", Sampling(temperature=0, max_tokens=16))
            return "".join([c.text async for c in generation])

        assert isinstance(loaded, LlamaModel)
        assert asyncio.run(greedy(loaded)) != asyncio.run(greedy(model))
    finally:
        loaded.close()


@pytest.mark.parametrize(
    ("embd_a", "embd_b"),
    [
        ((EMBEDDING, RANK), (RANK, VOCABULARY)),  # laid out as the other tensors' updates
        ((RANK, VOCABULARY), (RANK + 1, EMBEDDING)),  # ranks that differ
    ],
)
def test_an_embedding_update_llama_cpp_cannot_use_is_refused(
    inferd_home: Path, tiny_file: Path, tmp_path: Path, embd_a: tuple[int, int],
    embd_b: tuple[int, int],
) -> None:  # fmt: skip
    store = ModelStore(inferd_home)
    push(store, tiny_file, "llm:base-1")
    file = adapter(tmp_path / "embd.gguf", embd_a, embd_b)
    with pytest.raises(InvalidArgument, match=r"does not fit --base llm:base-1 .*token_embd"):
        push(store, file, "llm:embd", base="llm:base-1")
