"""A generation waiting for a slot ends at its deadline, not when a slot frees (RELIABILITY R11
for language models: a queued request past its deadline is answered 504 and leaves the queue;
it used to wait for the running generation to end, minutes on a long answer)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from inferd.card import ModelCard
from inferd.errors import DeadlineExceeded
from inferd.generation import Generation, Sampling
from inferd.runtimes.base import LoadOptions
from inferd.runtimes.llamacpp.runtime import LlamaCppRuntime, LlamaModel

from .test_engine import no_end


@pytest.fixture
def one_slot(tiny_file: Path) -> Iterator[LlamaModel]:
    card = ModelCard(name="tiny", runtime="llamacpp", entrypoint=tiny_file.name)
    loaded = LlamaCppRuntime().load(tiny_file.parent, card, LoadOptions(max_num_seqs=1))
    assert isinstance(loaded, LlamaModel)
    yield loaded
    loaded.close()


def test_a_generation_queued_past_its_deadline_ends_before_the_running_one(
    one_slot: LlamaModel,
) -> None:
    model = one_slot
    long = Sampling(temperature=0, max_tokens=400, logit_bias=no_end(model))
    ended: list[str] = []

    async def drain(name: str, generation: Generation) -> None:
        try:
            async for _ in generation:
                pass
            ended.append(f"{name}: {generation.finish_reason}")
        except DeadlineExceeded as exc:
            ended.append(f"{name}: {exc.message}")

    async def scenario() -> None:
        running = model.generate("go on", long)
        # Its deadline is already over as it queues behind the only slot.
        late = model.generate("hi", Sampling(temperature=0, max_tokens=4), time.monotonic())
        await asyncio.gather(drain("running", running), drain("queued", late))

    asyncio.run(scenario())
    assert len(ended) == 2
    assert ended[0].startswith("queued: "), ended
    assert "deadline" in ended[0]
    assert ended[1] == "running: length"
    assert model.load() == (0, 0)


def test_a_generation_late_while_slots_are_free_does_not_blame_the_slots(
    model: LlamaModel,
) -> None:
    async def late() -> None:
        generation = model.generate("hi", Sampling(max_tokens=4), time.monotonic() - 1)
        async for _ in generation:
            pass

    with pytest.raises(DeadlineExceeded) as caught:
        asyncio.run(late())
    assert caught.value.message == (
        "the generation passed its deadline before it started (8 of 8 slots free)"
    )


def test_a_generation_waiting_for_a_slot_past_its_deadline_says_so(one_slot: LlamaModel) -> None:
    model = one_slot

    async def scenario() -> str:
        # To the end of its context: it holds the only slot (the iterator kept open) until
        # cancelled.
        running = model.generate("go on", Sampling(temperature=0, logit_bias=no_end(model)))
        chunks = aiter(running)
        await anext(chunks)
        late = model.generate("hi", Sampling(max_tokens=4), time.monotonic())
        try:
            async for _ in late:
                pass
        except DeadlineExceeded as exc:
            return exc.message
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]  # an async generator's
        return "no deadline"

    assert asyncio.run(scenario()) == (
        "the generation waited for a free slot past its deadline (all 1 busy)"
    )
