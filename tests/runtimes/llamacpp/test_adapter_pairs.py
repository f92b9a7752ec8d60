"""llama.cpp applies an adapter only when every tensor is half of a ``.lora_a``/``.lora_b``
pair (norms, ``*_norm.weight``, are skipped): a ``.lora_b`` without its ``.lora_a`` ("LoRA
tensor pair … is missing one component") or a tensor with another suffix ("has unexpected
suffix") makes it refuse the whole adapter. Push checked only that each ``.lora_a`` had its
``.lora_b``, so it stored such adapters, and ``inferd serve`` of them failed: they are refused
at push now, naming the tensor."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import pytest

from inferd.card import LlmCard, ModelCard
from inferd.errors import InvalidArgument
from inferd.packaging import push
from inferd.runtimes.base import LoadOptions
from inferd.runtimes.llamacpp.runtime import LlamaCppRuntime
from inferd.store import ModelStore
from llm_files import make_model_module

EMBEDDING, RANK = 64, 4
A, B = (EMBEDDING, RANK), (RANK, EMBEDDING)  # ggml shapes


def adapter(path: Path, tensors: dict[str, tuple[int, ...]]) -> Path:
    """An adapter for the tiny model holding ``tensors`` (name → ggml shape)."""
    rng = np.random.default_rng(5)
    writer = gguf.GGUFWriter(path, make_model_module.ARCH)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, 8.0)
    for name, ne in tensors.items():
        writer.add_tensor(name, (rng.standard_normal(ne[::-1]) * 0.5).astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


PAIR = {"blk.0.attn_q.weight.lora_a": A, "blk.0.attn_q.weight.lora_b": B}
BROKEN = {
    "a lora_b alone": (
        {**PAIR, "blk.1.attn_q.weight.lora_b": B},
        r"blk\.1\.attn_q\.weight\.lora_b has no blk\.1\.attn_q\.weight\.lora_a",
    ),
    "another suffix": (
        {**PAIR, "blk.0.attn_q.weight.scale": (EMBEDDING,)},
        r"blk\.0\.attn_q\.weight\.scale is not a LoRA update",
    ),
}


def served(file: Path, base: Path) -> None:
    llm = LlmCard(format="gguf", architecture="llama", parameters=1, adapter="lora",
                  base="llm@sha256:" + "0" * 64)  # fmt: skip
    card = ModelCard(name="bad", runtime="llamacpp", entrypoint=file.name, llm=llm)
    LlamaCppRuntime().load(file.parent, card, LoadOptions(base=base)).close()


@pytest.mark.parametrize("case", list(BROKEN))
def test_an_adapter_llama_cpp_would_refuse_is_refused_at_push(
    inferd_home: Path, tiny_file: Path, tmp_path: Path, case: str
) -> None:
    tensors, message = BROKEN[case]
    file = adapter(tmp_path / "bad.gguf", tensors)
    with pytest.raises(InvalidArgument, match=r"could not apply the LoRA adapter"):
        served(file, tiny_file)  # what serving it did, after push had stored it
    store = ModelStore(inferd_home)
    push(store, tiny_file, "llm:base-1")
    with pytest.raises(InvalidArgument, match=message):
        push(store, file, "llm:bad", base="llm:base-1")
    assert [e.tag for e in store.list("llm")] == ["base-1"]


def test_norms_beside_the_pairs_are_taken_as_llama_cpp_takes_them(
    inferd_home: Path, tiny_file: Path, tmp_path: Path
) -> None:
    file = adapter(tmp_path / "norm.gguf", {**PAIR, "blk.0.attn_norm.weight": (EMBEDDING,)})
    served(file, tiny_file)
    store = ModelStore(inferd_home)
    push(store, tiny_file, "llm:base-1")
    push(store, file, "llm:norm", base="llm:base-1")
