"""vLLM's sampling parameters on the real llama.cpp: ``top_k``, ``min_p`` and
``repetition_penalty`` are samplers in each generation's chain, not settings read and dropped."""

from __future__ import annotations

import asyncio
from typing import Any

from inferd.generation import Sampling
from inferd.runtimes.llamacpp.runtime import LlamaModel

#: A prompt that repeats itself: a greedy answer without a penalty goes on repeating.
REPEATING = "ab ab ab ab ab ab ab ab ab ab ab ab"


def _say(model: LlamaModel, prompt: str, **sampling: Any) -> str:
    async def run() -> str:
        generation = model.generate(prompt, Sampling(max_tokens=24, **sampling))
        return "".join([chunk.text async for chunk in generation])

    return asyncio.run(run())


def test_top_k_1_is_the_greedy_answer_whatever_the_temperature_and_seed(
    model: LlamaModel,
) -> None:
    greedy = _say(model, "hello", temperature=0)
    for seed in (1, 2, 3):
        assert _say(model, "hello", temperature=2, seed=seed, top_k=1) == greedy
    # Without top_k, the same temperature and seeds sample something else.
    sampled = {_say(model, "hello", temperature=2, seed=seed) for seed in (1, 2, 3)}
    assert sampled != {greedy}


def test_min_p_1_keeps_only_the_likeliest_token(model: LlamaModel) -> None:
    greedy = _say(model, "hello", temperature=0)
    assert _say(model, "hello", temperature=2, seed=7, min_p=1.0) == greedy


def test_repetition_penalty_changes_the_answer_to_a_repeating_prompt(model: LlamaModel) -> None:
    plain = _say(model, REPEATING, temperature=0)
    assert _say(model, REPEATING, temperature=0, repetition_penalty=1.0) == plain
    penalised = _say(model, REPEATING, temperature=0, repetition_penalty=2.0)
    assert penalised != plain
    # Deterministic: a greedy answer with a penalty repeats too.
    assert _say(model, REPEATING, temperature=0, repetition_penalty=2.0) == penalised


def test_a_top_k_beyond_the_vocabulary_is_every_token(model: LlamaModel) -> None:
    # Beyond C's 32-bit int too: not wrapped into some other k.
    plain = _say(model, "hello", temperature=1, seed=5)
    assert _say(model, "hello", temperature=1, seed=5, top_k=2**32 + 1) == plain
    assert _say(model, "hello", temperature=1, seed=5, top_k=10**30) == plain


#: The tiny model's <|im_end|>, an end-of-generation token.
END_TOKEN = 265


def test_ignore_eos_decodes_past_the_end_token(model: LlamaModel) -> None:
    async def run(**sampling: Any) -> tuple[str | None, int]:
        asked = Sampling(max_tokens=6, temperature=0, logit_bias={END_TOKEN: 100}, **sampling)
        generation = model.generate("hello", asked)
        tokens = sum([chunk.tokens async for chunk in generation])
        return generation.finish_reason, tokens

    assert asyncio.run(run()) == ("stop", 1)
    # vLLM's ignore_eos: the end token is decoded as any other, up to max_tokens.
    assert asyncio.run(run(ignore_eos=True)) == ("length", 6)
