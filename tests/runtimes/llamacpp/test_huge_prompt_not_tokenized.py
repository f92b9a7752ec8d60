"""A prompt far over the context is refused without being tokenized: ``generate`` runs on the
event loop, and tokenizing megabytes there (seconds) froze every stream and health check of the
server for a request that is refused anyway."""

from __future__ import annotations

import asyncio

import pytest

from inferd.errors import ContextLengthExceeded, InvalidArgument
from inferd.generation import Sampling
from inferd.runtimes.llamacpp.runtime import LlamaModel


class _Tokenized:
    """Records the length of every text the model's weights tokenize."""

    def __init__(self, model: LlamaModel, monkeypatch: pytest.MonkeyPatch) -> None:
        self.lengths: list[int] = []
        weights = model._weights
        real = weights.tokenize

        def tokenize(text: str, *, special: bool = True) -> list[int]:
            self.lengths.append(len(text))
            return real(text, special=special)

        monkeypatch.setattr(weights, "tokenize", tokenize)


def test_the_longest_piece_bounds_the_tokens_of_a_text(model: LlamaModel) -> None:
    longest = model._weights.longest_piece
    # The tiny vocabulary's longest text is a control token as a template writes it.
    assert longest == len("<|endoftext|>")
    for text in ("a" * 500, "<|endoftext|>" * 40, "hello world " * 30, "é" * 99):
        assert model.count_tokens(text) >= len(text.encode()) / longest


@pytest.mark.parametrize("max_tokens", [None, 8])
def test_a_prompt_far_over_the_context_is_refused_before_it_is_tokenized(
    model: LlamaModel, monkeypatch: pytest.MonkeyPatch, max_tokens: int | None
) -> None:
    tokenized = _Tokenized(model, monkeypatch)
    prompt = "hello world, how are you " * 40_000  # 1 MB: 920,000 tokens

    async def ask() -> None:
        model.generate(prompt, Sampling(max_tokens=max_tokens))

    with pytest.raises(ContextLengthExceeded) as refused:
        asyncio.run(ask())
    assert tokenized.lengths == []
    message = str(refused.value)
    assert message == (
        f"the prompt is {len(prompt):,} characters, at least 76,924 tokens: over the context of "
        "512 tokens per sequence, leaving no room for an answer; shorten the prompt"
    )
    assert model.load() == (0, 0)


def test_a_prompt_near_the_context_is_still_counted_exactly(
    model: LlamaModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokenized = _Tokenized(model, monkeypatch)

    async def ask() -> None:
        model.generate("a" * 600, Sampling(max_tokens=4))

    with pytest.raises(
        ContextLengthExceeded, match=r"the prompt is 600 tokens and max_tokens is 4"
    ):
        asyncio.run(ask())
    assert tokenized.lengths == [600]


def test_an_embeddings_input_far_over_the_context_is_refused_before_it_is_tokenized(
    model: LlamaModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokenized = _Tokenized(model, monkeypatch)
    huge = "hello world, how are you " * 40_000

    with pytest.raises(InvalidArgument) as refused:
        model.embed(["fine", huge])
    assert len(huge) not in tokenized.lengths
    assert str(refused.value) == (
        f"input 1 is {len(huge):,} characters, at least 76,924 tokens: over the context of 512 "
        "tokens"
    )
    with pytest.raises(InvalidArgument, match=r"input 0 is 600 tokens, over the context of 512"):
        model.embed(["a" * 600])
