"""OpenAI's ``presence_penalty`` and ``frequency_penalty`` on the real llama.cpp: a penalties
sampler in each generation's chain that counts the answer's tokens only (as OpenAI and vLLM
count them), where ``repetition_penalty`` counts the prompt's too."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from inferd.generation import Sampling
from inferd.runtimes.llamacpp.runtime import LlamaModel

#: A prompt whose greedy answer repeats the prompt's own token ("0000…").
ZEROS = "0000000000"


def _say(model: LlamaModel, prompt: str, max_tokens: int = 24, **sampling: Any) -> str:
    async def run() -> str:
        generation = model.generate(prompt, Sampling(max_tokens=max_tokens, **sampling))
        return "".join([chunk.text async for chunk in generation])

    return asyncio.run(run())


@pytest.mark.parametrize("penalty", ["presence_penalty", "frequency_penalty"])
def test_a_strong_penalty_changes_a_repeating_answer_and_0_is_none(
    model: LlamaModel, penalty: str
) -> None:
    plain = _say(model, ZEROS, temperature=0)
    assert plain.startswith("0000")
    assert _say(model, ZEROS, temperature=0, **{penalty: 0.0}) == plain
    penalised = _say(model, ZEROS, temperature=0, **{penalty: 2.0})
    assert penalised != plain
    assert _say(model, ZEROS, temperature=0, **{penalty: 2.0}) == penalised


def test_penalties_count_the_answer_not_the_prompt(model: LlamaModel) -> None:
    # The first token has no answer before it: the penalties leave it as it is, though the
    # prompt is full of it; the repetition penalty, which counts the prompt, changes it.
    first = _say(model, ZEROS, max_tokens=1, temperature=0)
    both = {"presence_penalty": 2.0, "frequency_penalty": 2.0}
    assert _say(model, ZEROS, max_tokens=1, temperature=0, **both) == first
    assert _say(model, ZEROS, max_tokens=1, temperature=0, repetition_penalty=2.0) != first
    # From the second token on, the answer's own "0" is penalised.
    assert not _say(model, ZEROS, max_tokens=4, temperature=0, **both).startswith("00")


def test_a_seeded_sample_with_penalties_is_repeatable(model: LlamaModel) -> None:
    asked = {"temperature": 1.0, "seed": 3, "presence_penalty": 1.5, "frequency_penalty": 1.5}
    penalised = _say(model, "hello", **asked)
    assert _say(model, "hello", **asked) == penalised
    assert _say(model, "hello", temperature=1.0, seed=3) != penalised


def test_negative_penalties_favour_repeating(model: LlamaModel) -> None:
    # -2 on every token already in the answer: greedy sticks with what it said.
    favoured = _say(model, "hello", temperature=0, frequency_penalty=-2.0)
    assert favoured != _say(model, "hello", temperature=0)
    assert len(set(favoured)) < len(set(_say(model, "hello", temperature=0)))
