"""Benchmark: resident memory of a base model and LoRA adapters over it, served together.

    .venv/bin/python bench/llm_adapter_memory.py [--adapters 3]

Loads, in one process and with the llamacpp runtime as ``inferd serve`` does, the generated 85M
model (examples/llm/make_model.py: 12 layers, 768 wide, F16, 171 MB) and then ``--adapters``
rank-4 LoRA adapters over it (each its own version: its own context and KV cache), and prints
the process's resident memory after each, with one generation run on each so that every page
it needs is touched. Adapters share the base's weights (one llama.cpp model, mmapped once), so
each adds its context, its KV cache and its adapter, not another copy of the weights. For
comparison, the same base file is then loaded as a second independent model (two files:
what serving two copies would cost).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import shutil
import tempfile
from pathlib import Path
from types import ModuleType

import psutil

from inferd.card import LlmCard, ModelCard
from inferd.generation import Sampling
from inferd.runtimes.base import LoadOptions, Model
from inferd.runtimes.llamacpp.runtime import LlamaCppRuntime, LlamaModel

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"layers": 12, "embedding": 768, "heads": 12, "feed_forward": 2048, "context": 2048}


def make_model_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_model", ROOT / "examples/llm/make_model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def touch(model: Model) -> None:
    assert isinstance(model, LlamaModel)

    async def run() -> None:
        generation = model.generate("Hello there", Sampling(temperature=0, max_tokens=8))
        async for _ in generation:
            pass

    asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--adapters", type=int, default=3)
    args = parser.parse_args()
    maker = make_model_module()
    runtime = LlamaCppRuntime()
    rows: list[tuple[str, float]] = [("process, nothing loaded", rss_mb())]
    with tempfile.TemporaryDirectory(prefix="adapter-memory-") as scratch:
        work = Path(scratch)
        base_dir = work / "base"
        base_dir.mkdir()
        base = maker.make_model(base_dir / "base.gguf", **SIZES)
        loaded: list[Model] = []
        card = ModelCard(name="base", runtime="llamacpp", entrypoint=base.name)
        loaded.append(runtime.load(base_dir, card, LoadOptions()))
        touch(loaded[-1])
        rows.append((f"base ({base.stat().st_size / 2**20:.0f} MiB file)", rss_mb()))
        for n in range(1, args.adapters + 1):
            folder = work / f"adapter-{n}"
            folder.mkdir()
            maker.make_adapter(folder / "lora.gguf", seed=n, width=768, layers=12)
            llm = LlmCard(format="gguf", architecture="llama", parameters=0, adapter="lora",
                          base="base@sha256:" + "0" * 64)  # fmt: skip
            card = ModelCard(name=f"a{n}", runtime="llamacpp", entrypoint="lora.gguf", llm=llm)
            loaded.append(runtime.load(folder, card, LoadOptions(base=base)))
            touch(loaded[-1])
            rows.append((f"+ adapter {n} over it", rss_mb()))
        copy_dir = work / "copy"
        copy_dir.mkdir()
        copy = shutil.copy(base, copy_dir / "base.gguf")
        card = ModelCard(name="copy", runtime="llamacpp", entrypoint="base.gguf")
        loaded.append(runtime.load(copy_dir, card, LoadOptions()))
        touch(loaded[-1])
        rows.append((f"+ a second copy of the base ({Path(copy).name}, another file)", rss_mb()))
        for model in loaded:
            model.close()
    print("| loaded | resident memory | added |\n|---|---|---|")
    previous = rows[0][1]
    for what, mb in rows:
        print(f"| {what} | {mb:,.0f} MiB | {mb - previous:+,.0f} MiB |")
        previous = mb


if __name__ == "__main__":
    main()
