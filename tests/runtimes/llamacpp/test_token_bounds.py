"""``/tokenize`` and ``/detokenize`` on the real tokenizer do bounded work: a text that would
fill the context is refused before llama.cpp reads it (its tokenizer took 7 s on 600 KB of
chat template, and over 120 s on 6 MB), and at most a context of tokens is detokenized
(5 million took 37 s)."""

from __future__ import annotations

import time

import pytest

from inferd.errors import ContextLengthExceeded
from inferd.generation import InvalidSampling
from inferd.runtimes.llamacpp.runtime import LlamaModel

TURN = "<|im_start|>user\nhi<|im_end|>\n"


def test_a_text_over_the_context_is_refused_before_it_is_tokenized(model: LlamaModel) -> None:
    started = time.monotonic()
    with pytest.raises(ContextLengthExceeded, match="over the context of 512 tokens"):
        model.tokenize(TURN * 20_000)
    assert time.monotonic() - started < 0.5


def test_the_longest_text_tokenized_is_quick(model: LlamaModel) -> None:
    longest = model._weights.longest_piece
    assert longest is not None
    text = (TURN * (512 * longest // len(TURN)))[: 511 * longest]  # just under the bound
    started = time.monotonic()
    assert len(model.tokenize(text)) > 512  # more than the context: counted, as vLLM does
    assert time.monotonic() - started < 1.0


def test_at_most_a_context_of_tokens_is_detokenized(model: LlamaModel) -> None:
    assert model.detokenize([5] * 512)
    with pytest.raises(InvalidSampling) as refused:
        model.detokenize([5] * 5_000_000)
    assert refused.value.param == "tokens"
    assert "5,000,000 tokens; at most the context of 512" in str(refused.value)
