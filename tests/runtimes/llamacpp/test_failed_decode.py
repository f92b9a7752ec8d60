"""A batch llama.cpp cannot decode fails the generations in it, and only those: the engine goes
on serving (RELIABILITY R6 for language models: one failure never takes the model down). It
used to end the engine's thread, and every later request then waited for ever, unanswered.

The failure is injected: ``llama_decode`` answers non-zero once (as it does when it finds no
room in the KV cache), the real model decodes every other batch."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from inferd.card import ModelCard
from inferd.errors import InferdError, InternalError, Unavailable
from inferd.generation import Sampling
from inferd.runtimes.base import LoadOptions
from inferd.runtimes.llamacpp import library
from inferd.runtimes.llamacpp.runtime import LlamaCppRuntime, LlamaModel

from .test_engine import collect, no_end

#: Bound on a generation that should answer at once: a hang guard, not a measurement.
HANG_S = 60


@pytest.fixture
def fresh(tiny_file: Path) -> Iterator[LlamaModel]:
    card = ModelCard(name="tiny", runtime="llamacpp", entrypoint=tiny_file.name)
    loaded = LlamaCppRuntime().load(tiny_file.parent, card, LoadOptions())
    assert isinstance(loaded, LlamaModel)
    yield loaded
    loaded.close()


def test_a_failed_decode_fails_its_batch_and_the_engine_serves_on(
    fresh: LlamaModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = fresh
    real = library.Context.decode
    failures = [InternalError("llama.cpp could not decode a batch (code 1)")]

    def decode_failing_once(self: library.Context) -> None:
        if failures:
            raise failures.pop()
        real(self)

    monkeypatch.setattr(library.Context, "decode", decode_failing_once)
    sampling = Sampling(temperature=0, max_tokens=8, logit_bias=no_end(model))

    async def scenario() -> tuple[str, tuple[str, int, str]]:
        try:
            await asyncio.wait_for(collect(model, "first", sampling), HANG_S)
            failed = "no error"
        except InferdError as exc:
            failed = exc.message
        after = await asyncio.wait_for(collect(model, "second", sampling), HANG_S)
        return failed, after

    failed, (text, tokens, reason) = asyncio.run(scenario())
    assert "could not decode" in failed
    assert (tokens, reason) == (8, "length") and text
    assert model.load() == (0, 0)


def test_an_engine_that_failed_refuses_new_generations_instead_of_holding_them(
    fresh: LlamaModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure the engine cannot recover from (here the sampler raises, a bug) ends its
    thread: what ran fails, and a new generation is refused at once, not queued for ever."""
    model = fresh

    def broken(self: library.Sampler, index: int) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr(library.Sampler, "sample", broken)
    sampling = Sampling(temperature=0, max_tokens=8)

    async def scenario() -> str:
        with pytest.raises(InternalError, match=r"the generation engine of \S+ failed"):
            await asyncio.wait_for(collect(model, "first", sampling), HANG_S)
        with pytest.raises(Unavailable) as refused:
            model.generate("second", sampling)
        return refused.value.message

    assert "its generation engine failed" in asyncio.run(scenario())
