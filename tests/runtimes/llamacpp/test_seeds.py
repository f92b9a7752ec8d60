"""Seeds on the real llama.cpp: every 64-bit seed OpenAI's API takes draws repeatably, including
those whose low 32 bits are llama.cpp's "pick a random seed" value (``LLAMA_DEFAULT_SEED``)."""

from __future__ import annotations

import asyncio

import pytest

from inferd.generation import Sampling
from inferd.runtimes.llamacpp.runtime import LlamaModel


async def _text(model: LlamaModel, seed: int) -> str:
    control = ("<|im_end|>", "<|endoftext|>", "<|im_start|>")
    bias = {token: -100.0 for text in control for token in model._weights.tokenize(text)}
    sampling = Sampling(temperature=1.0, max_tokens=16, seed=seed, logit_bias=bias)
    generation = model.generate("hello", sampling)
    return "".join([chunk.text async for chunk in generation])


@pytest.mark.parametrize("seed", [-1, 2**32 - 1, 2**63 - 1, -(2**63)])
def test_every_seed_draws_the_same_text_twice(model: LlamaModel, seed: int) -> None:
    async def twice() -> list[str]:
        return [await _text(model, seed) for _ in range(2)]

    first, second = asyncio.run(twice())
    assert first == second
