"""The continuous-batching engine on the real llama.cpp, with the tiny GGUF: determinism,
generations decoded together, limits, cancellation, stop strings and embeddings."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from inferd.card import ModelCard
from inferd.errors import InvalidArgument, Unavailable
from inferd.generation import Generation, Message, Sampling
from inferd.runtimes.base import LoadOptions
from inferd.runtimes.llamacpp.runtime import (
    KV_CELLS,
    MAX_WAITING,
    SLOTS,
    LlamaCppRuntime,
    LlamaModel,
)
from llm_files import tiny_gguf


#: The tiny model's control tokens (its end-of-generation ones) banned, so every generation runs to
#: ``max_tokens``.
def no_end(model: LlamaModel) -> dict[int, float]:
    control = ("<|im_end|>", "<|endoftext|>", "<|im_start|>")
    return {token: -100.0 for text in control for token in model._weights.tokenize(text)}


async def collect(model: LlamaModel, prompt: str, sampling: Sampling) -> tuple[str, int, str]:
    generation = model.generate(prompt, sampling)
    text = "".join([chunk.text async for chunk in generation])
    assert generation.finish_reason is not None
    return text, generation.completion_tokens, generation.finish_reason


def test_greedy_generation_is_repeatable_and_stops_at_max_tokens(model: LlamaModel) -> None:
    sampling = Sampling(temperature=0, max_tokens=12, logit_bias=no_end(model))

    async def twice() -> list[tuple[str, int, str]]:
        return [await collect(model, "the cat", sampling) for _ in range(2)]

    first, second = asyncio.run(twice())
    assert first == second
    assert first[1] == 12 and first[2] == "length"


def test_a_seed_makes_sampling_repeatable(model: LlamaModel) -> None:
    def run(seed: int) -> str:
        sampling = Sampling(temperature=1.0, max_tokens=16, seed=seed, logit_bias=no_end(model))
        return asyncio.run(collect(model, "hello", sampling))[0]

    assert run(7) == run(7)
    assert len({run(s) for s in range(1, 5)}) > 1  # different seeds draw different text


def test_generations_decoded_together_equal_each_alone(model: LlamaModel) -> None:
    prompts = [f"prompt number {i}" for i in range(SLOTS + 2)]  # more than the slots: some wait
    sampling = Sampling(temperature=0, max_tokens=10, logit_bias=no_end(model))

    async def alone() -> list[str]:
        return [(await collect(model, p, sampling))[0] for p in prompts]

    async def together() -> list[str]:
        answers = await asyncio.gather(*(collect(model, p, sampling) for p in prompts))
        return [a[0] for a in answers]

    assert asyncio.run(together()) == asyncio.run(alone())
    assert model.load() == (0, 0)


def test_a_prompt_over_the_context_is_refused_naming_the_numbers(model: LlamaModel) -> None:
    async def ask(prompt: str, max_tokens: int | None) -> None:
        model.generate(prompt, Sampling(max_tokens=max_tokens))

    with pytest.raises(InvalidArgument, match=r"the prompt is \d+ tokens and max_tokens is 600"):
        asyncio.run(ask("hi", 600))
    # Without max_tokens there is no max_tokens to lower: the error says so, and names a
    # prompt that fills the context exactly (no room left for one token) as doing that.
    with pytest.raises(InvalidArgument, match=r"is over the context of 512 tokens") as over:
        asyncio.run(ask("word " * 600, None))
    assert "max_tokens" not in str(over.value)
    assert str(over.value).endswith("leaving no room for an answer; shorten the prompt")
    exact = "a" * 512  # one token per "a"
    assert model.count_tokens(exact) == 512
    with pytest.raises(InvalidArgument, match="fills the context of 512 tokens") as full:
        asyncio.run(ask(exact, None))
    assert "max_tokens" not in str(full.value)
    with pytest.raises(InvalidArgument, match="the prompt is empty"):
        asyncio.run(ask("", 4))


def test_a_cancelled_generation_frees_its_slot(model: LlamaModel) -> None:
    async def scenario() -> tuple[int, tuple[int, int]]:
        generation = model.generate("go on", Sampling(temperature=0, max_tokens=400,
                                                       logit_bias=no_end(model)))  # fmt: skip
        chunks = 0
        async for _ in generation:
            chunks += 1
            if chunks == 3:
                break  # closing the iterator cancels the generation
        for _ in range(200):
            if model.load() == (0, 0):
                break
            await asyncio.sleep(0.01)
        return generation.completion_tokens, model.load()

    done, load = asyncio.run(scenario())
    assert load == (0, 0)
    assert done < 400


def test_stop_strings_end_the_text_before_them(model: LlamaModel) -> None:
    sampling = Sampling(temperature=0, max_tokens=40, logit_bias=no_end(model))
    text, _, _ = asyncio.run(collect(model, "abc", sampling))
    assert len(text) > 4
    stop = text[3:5]
    cut, _, reason = asyncio.run(collect(model, "abc", Sampling(
        temperature=0, max_tokens=40, stop=(stop,), logit_bias=no_end(model))))  # fmt: skip
    assert reason == "stop"
    assert cut == text[: text.index(stop)]


def test_bytes_after_a_stop_string_are_not_sent(model: LlamaModel) -> None:
    # A byte-level BPE token can hold the end of a stop string and the first bytes of the next
    # character (" \xe6\x88" after "User:"): those bytes come after the stop and must not
    # reach the answer, not even as U+FFFD. The tiny vocabulary has single bytes only, so the
    # stop here is the U+FFFD that a lone lead byte decodes to when another follows it: the
    # second 0xC3 completes the stop and is itself held as the start of a character.
    lead = next(t for t in range(model._weights.n_vocab) if model._weights.piece(t) == b"\xc3")
    sampling = Sampling(temperature=0, max_tokens=8, stop=("\ufffd",), logit_bias={lead: 100.0})
    text, tokens, reason = asyncio.run(collect(model, "abc", sampling))
    assert (text, tokens, reason) == ("", 2, "stop")


def admitted(model: LlamaModel, slots: int, bound: int) -> int:
    """How many generations ``model`` takes before refusing one, its ``slots`` running ones
    held: queued ones wait beside those that took a slot (some may not have taken it yet)."""
    sampling = Sampling(temperature=0, max_tokens=200, logit_bias=no_end(model))

    async def scenario() -> int:
        accepted = []
        try:
            with pytest.raises(
                Unavailable,
                match=rf"{bound} generations are already waiting for a slot \(the bound "
                r"llm\.max_waiting_seqs\)",
            ):
                for _ in range(slots + bound + 1):
                    accepted.append(model.generate("x", sampling))
            return len(accepted)
        finally:
            for generation in accepted:
                generation.cancel()
            while model.load() != (0, 0):
                await asyncio.sleep(0.01)

    return asyncio.run(scenario())


def test_a_full_queue_is_unavailable(model: LlamaModel) -> None:
    assert model._engine.max_waiting == MAX_WAITING == 64
    assert MAX_WAITING <= admitted(model, SLOTS, MAX_WAITING) <= SLOTS + MAX_WAITING


def test_max_waiting_seqs_bounds_the_queue(tiny_file: Path) -> None:
    """The queue was fixed at 64: 100 concurrent generations on 2 slots had some refused
    whatever the operator set. With ``max_waiting_seqs`` 100 they all are admitted."""
    card = ModelCard(name="tiny", runtime="llamacpp", entrypoint=tiny_file.name)
    options = LoadOptions(max_num_seqs=2, max_waiting_seqs=100)
    model = LlamaCppRuntime().load(tiny_file.parent, card, options)
    assert isinstance(model, LlamaModel)
    try:
        assert 100 <= admitted(model, 2, 100) <= 102
    finally:
        model.close()


def test_the_chat_template_makes_the_prompt(model: LlamaModel) -> None:
    prompt = model.chat_prompt([Message("system", "be brief"), Message("user", "hi")])
    assert prompt == (
        "<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_embeddings_are_unit_vectors_one_per_text(model: LlamaModel) -> None:
    vectors, tokens = model.embed(["the cat", "a dog sat"])
    assert len(vectors) == 2 and tokens > 4
    assert len(vectors[0]) == 64
    for vector in vectors:
        assert math.isclose(math.fsum(v * v for v in vector), 1.0, rel_tol=1e-5)
    assert vectors[0] != vectors[1]


def test_a_repeated_prompt_prefix_is_not_read_again(model: LlamaModel, tiny_file: Path) -> None:
    sampling = Sampling(temperature=0, max_tokens=8, logit_bias=no_end(model))
    system = "You are a helpful assistant who answers in one short sentence. "

    async def ask(on: LlamaModel, prompt: str) -> tuple[str, int, int]:
        generation = on.generate(prompt, sampling)
        text = "".join([c.text async for c in generation])
        return text, generation.prompt_tokens, generation.cached_tokens

    async def scenario() -> list[tuple[str, int, int]]:
        return [await ask(model, system + q) for q in ("Who are you?", "Who are you?", "Now?")]

    first, again, other = asyncio.run(scenario())
    # The same prompt: everything but its last token comes from the cache; the same answer.
    assert again[0] == first[0] and again[2] == again[1] - 1
    # A shared system prompt: at least that part is reused...
    assert other[2] >= len(model._weights.tokenize(system)) - 1
    # ...and the answer is the one a model with nothing cached gives.
    card = ModelCard(name="fresh", runtime="llamacpp", entrypoint=tiny_file.name)
    fresh = LlamaCppRuntime().load(tiny_file.parent, card, LoadOptions())
    assert isinstance(fresh, LlamaModel)
    try:
        cold = asyncio.run(ask(fresh, system + "Now?"))
    finally:
        fresh.close()
    assert cold[2] == 0 and cold[0] == other[0]


def test_generations_wait_for_room_in_the_kv_cache(tmp_path: Path) -> None:
    """With a 2,048-token context, 8 slots would need 16,384 cells; the cache has 8,192, so a
    generation starts only when its prompt plus max_tokens fits beside the running ones'."""
    file = tiny_gguf(tmp_path / "long.gguf", context=2048)
    card = ModelCard(name="long", runtime="llamacpp", entrypoint=file.name)
    model = LlamaCppRuntime().load(tmp_path, card, LoadOptions())
    assert isinstance(model, LlamaModel)
    assert model._context.cells == KV_CELLS
    sampling = Sampling(temperature=0, max_tokens=1500, logit_bias=no_end(model))
    running: list[int] = []

    async def scenario() -> list[int]:
        generations = [model.generate(f"story {i}", sampling) for i in range(SLOTS)]

        async def drain(generation: Generation) -> int:
            async for _ in generation:
                running.append(model.load()[0])
            return generation.completion_tokens

        return list(await asyncio.gather(*(drain(g) for g in generations)))

    try:
        done = asyncio.run(scenario())
    finally:
        model.close()
    assert done == [1500] * SLOTS  # every one ran to its end: none failed for want of room
    assert 1 < max(running) <= KV_CELLS // (1500 + 8)


def test_requests_arriving_together_share_a_cached_prefix(model: LlamaModel) -> None:
    sampling = Sampling(temperature=0, max_tokens=6, logit_bias=no_end(model))
    prompt = "Shared instructions for every request that arrives in this burst. Go: "

    async def ask() -> tuple[str, int, int]:
        generation = model.generate(prompt, sampling)
        text = "".join([c.text async for c in generation])
        return text, generation.prompt_tokens, generation.cached_tokens

    async def scenario() -> tuple[tuple[str, int, int], list[tuple[str, int, int]]]:
        first = await ask()  # one slot now keeps the prompt
        return first, list(await asyncio.gather(*(ask() for _ in range(4))))

    first, burst = asyncio.run(scenario())
    for text, tokens, cached in burst:
        # Each slot got the prefix from the one that kept it: only the last token was read.
        assert cached == tokens - 1
        assert text == first[0]


def test_occupancy_counts_what_generations_may_hold(model: LlamaModel) -> None:
    """Tokens in flight: each generation's prompt plus max_tokens, running or waiting; KV usage:
    the share of cells the running ones reserved (what the autoscaler's LLM metrics read)."""
    sampling = Sampling(temperature=0, max_tokens=300, logit_bias=no_end(model))
    prompt_tokens = len(model._weights.tokenize("x"))

    async def scenario() -> tuple[int, float]:
        generations = [model.generate("x", sampling) for _ in range(2)]
        try:
            while model.load()[0] < 2:  # both took a slot
                await asyncio.sleep(0.01)
            return model.occupancy()
        finally:
            for generation in generations:
                generation.cancel()
            while model.load() != (0, 0):
                await asyncio.sleep(0.01)

    tokens, usage = asyncio.run(scenario())
    reserve = 2 * (prompt_tokens + 300)
    assert tokens == reserve
    assert usage == pytest.approx(reserve / model._engine.context.cells)
    assert model.occupancy() == (0, 0.0)
