"""Embeddings requests waiting for a version's one embedding context wait on the event loop, not
in a worker thread: each used to hold one of the event loop's few default threads (6 on 2 cores)
while it waited, so a queue of embeddings on one version held back every other version's
embeddings, and the loads, unloads and big bodies the server hands to those threads."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from inferd.card import ModelCard
from inferd.errors import DeadlineExceeded
from inferd.observe.llm_metrics import LlmMetrics
from inferd.runtimes.base import LoadOptions
from inferd.runtimes.llamacpp.runtime import LlamaCppRuntime, LlamaModel
from inferd.serving.generation import ServedGenerator


def _served(model: LlamaModel, version: str, metrics: LlmMetrics) -> ServedGenerator:
    return ServedGenerator("tiny", version, model, metrics, created=0)


@pytest.fixture
def other(tiny_file: Path) -> Iterator[LlamaModel]:
    """A second version over the same file (its own contexts)."""
    card = ModelCard(name="tiny", runtime="llamacpp", entrypoint=tiny_file.name)
    loaded = LlamaCppRuntime().load(tiny_file.parent, card, LoadOptions())
    assert isinstance(loaded, LlamaModel)
    yield loaded
    loaded.close()


def test_a_queue_of_embeddings_on_one_version_leaves_threads_for_another(
    model: LlamaModel, other: LlamaModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    metrics = LlmMetrics(CollectorRegistry())
    busy, other_served = _served(model, "busy", metrics), _served(other, "other", metrics)
    release = threading.Event()
    real = model.embed

    def held(
        texts: Sequence[str], deadline: float | None = None, gone: threading.Event | None = None
    ) -> tuple[list[list[float]], int]:
        release.wait(60)  # the one embedding running on 'busy' takes its time
        return real(texts, deadline, gone)

    monkeypatch.setattr(model, "embed", held)

    async def scenario() -> tuple[int, list[int]]:
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=2))
        queued = [asyncio.create_task(busy.embed(["the cat"])) for _ in range(4)]
        try:
            # One thread runs busy's embedding; the other is free for another version's.
            vectors, _ = await asyncio.wait_for(other_served.embed(["a dog"]), 30)
            assert not any(task.done() for task in queued)
        finally:
            release.set()
        return len(vectors), [len((await task)[0]) for task in queued]

    assert asyncio.run(scenario()) == (1, [1, 1, 1, 1])


def test_embeddings_waiting_past_their_deadline_end_with_it(
    model: LlamaModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    metrics = LlmMetrics(CollectorRegistry())
    served = _served(model, "late", metrics)
    entered, release = threading.Event(), threading.Event()
    real = model.embed

    def held(
        texts: Sequence[str], deadline: float | None = None, gone: threading.Event | None = None
    ) -> tuple[list[list[float]], int]:
        entered.set()
        release.wait(60)
        return real(texts, deadline, gone)

    monkeypatch.setattr(model, "embed", held)

    async def scenario() -> None:
        running = asyncio.create_task(served.embed(["the cat"]))
        while not entered.is_set():  # it has the model's turn
            await asyncio.sleep(0.001)
        try:
            with pytest.raises(DeadlineExceeded, match="waited for the model past their deadline"):
                await served.embed(["a dog"], deadline=time.monotonic() + 0.05)
        finally:
            release.set()
        await running

    asyncio.run(scenario())
    errors = metrics._endings.labels("tiny", "late", "embeddings", "error")._value.get()
    assert errors == 1
