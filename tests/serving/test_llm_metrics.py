"""Generations measured as they pass (serving/generation.py over the real llama.cpp runtime):
time to first token, time per output token, tokens as they come, how each request ended."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from inferd.card import ModelCard
from inferd.errors import DeadlineExceeded, InvalidArgument, Unavailable
from inferd.generation import Sampling
from inferd.observe.llm_metrics import LlmMetrics
from inferd.runtimes.base import LoadOptions
from inferd.serving.generation import ServedGenerator
from llm_files import make_model_module, tiny_gguf

if os.environ.get("CI") != "true":
    pytest.importorskip("llama_cpp", reason="the llm extra is not installed (make test does)")

from inferd.runtimes.llamacpp.runtime import LlamaCppRuntime, LlamaModel

LABELS = {"model": "llm", "version": "v1", "operation": "text_completion"}


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServedGenerator, CollectorRegistry]]:
    file = tiny_gguf(tmp_path_factory.mktemp("llm") / "tiny.gguf")
    card = ModelCard(name="llm", runtime="llamacpp", entrypoint=file.name)
    model = LlamaCppRuntime().load(file.parent, card, LoadOptions())
    assert isinstance(model, LlamaModel)
    registry = CollectorRegistry()
    yield ServedGenerator("llm", "v1", model, LlmMetrics(registry), 0), registry
    model.close()


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    found = registry.get_sample_value(name, {**LABELS, **labels})
    return found if found is not None else 0.0


def no_end() -> dict[int, float]:
    tokens, _, _ = make_model_module.vocabulary()
    return {tokens.index(t): -100.0 for t in make_model_module.CONTROL}


def test_a_generation_is_measured(served: tuple[ServedGenerator, CollectorRegistry]) -> None:
    generator, registry = served

    async def run() -> tuple[int, int]:
        generation = generator.generate(
            "the cat", Sampling(temperature=0, max_tokens=6, logit_bias=no_end()),
            "text_completion",
        )  # fmt: skip
        seen = 0
        async for chunk in generation:
            seen += chunk.tokens
            # Output tokens are counted as they come, not at the end.
            assert value(registry, "inferd_llm_tokens_total", type="output") >= seen
        return generation.prompt_tokens, generation.completion_tokens

    prompt, done = asyncio.run(run())
    assert done == 6
    assert value(registry, "inferd_llm_tokens_total", type="output") == 6
    assert value(registry, "inferd_llm_tokens_total", type="input") == prompt
    assert value(registry, "inferd_llm_requests_total", finish_reason="length") == 1
    assert value(registry, "gen_ai_server_time_to_first_token_seconds_count") == 1
    assert value(registry, "gen_ai_server_time_per_output_token_seconds_count") == 1
    assert value(registry, "gen_ai_server_request_duration_seconds_count") == 1


def test_cancelled_and_rejected_requests_are_counted(
    served: tuple[ServedGenerator, CollectorRegistry],
) -> None:
    generator, registry = served
    sampling = Sampling(temperature=0, max_tokens=300, logit_bias=no_end())

    async def cancel() -> None:
        generation = generator.generate("go", sampling, "text_completion")
        async for _ in generation:
            break  # the client went away

    before = value(registry, "gen_ai_server_time_per_output_token_seconds_count")
    asyncio.run(cancel())
    assert value(registry, "inferd_llm_requests_total", finish_reason="cancelled") == 1
    # A cut generation has no meaningful time per token.
    assert value(registry, "gen_ai_server_time_per_output_token_seconds_count") == before

    async def too_long() -> None:
        generator.generate("hi", Sampling(max_tokens=10_000), "text_completion")

    with pytest.raises(InvalidArgument):
        asyncio.run(too_long())
    assert value(registry, "inferd_llm_requests_total", finish_reason="rejected") == 1
    assert value(registry, "inferd_llm_requests_total", finish_reason="shed") == 0


def test_a_generation_the_server_refuses_is_shed_not_rejected(tmp_path: Path) -> None:
    """A 503 (the queue full, the model unloading) is the server's doing: an SLO counts it as
    bad, so it must not read as a client's over-context 400 (``rejected``)."""
    file = tiny_gguf(tmp_path / "tiny.gguf")
    card = ModelCard(name="llm", runtime="llamacpp", entrypoint=file.name)
    model = LlamaCppRuntime().load(file.parent, card, LoadOptions())
    assert isinstance(model, LlamaModel)
    registry = CollectorRegistry()
    generator = ServedGenerator("llm", "v1", model, LlmMetrics(registry), 0)
    model.close()

    async def refused() -> None:
        generator.generate("hi", Sampling(max_tokens=4), "text_completion")

    with pytest.raises(Unavailable):
        asyncio.run(refused())
    assert value(registry, "inferd_llm_requests_total", finish_reason="shed") == 1
    assert value(registry, "inferd_llm_requests_total", finish_reason="rejected") == 0


def test_every_token_of_a_cancelled_generation_is_counted(
    served: tuple[ServedGenerator, CollectorRegistry],
) -> None:
    """Tokens the engine decoded for a generation its client left (queued unread, or decoded in
    the step that was running when the cancel came) are output tokens too, counted once the
    sequence has left; those decoded after the cancel are counted on their own: one step's."""
    generator, registry = served
    sampling = Sampling(temperature=0, max_tokens=300, logit_bias=no_end())
    output = {"type": "output"}

    async def leave() -> tuple[int, float, float]:
        before = value(registry, "inferd_llm_tokens_total", **output)
        late = value(registry, "inferd_llm_tokens_after_cancel_total")
        generation = generator.generate("go", sampling, "text_completion")
        chunks = generation.__aiter__()
        await anext(chunks)
        await asyncio.sleep(0.005)  # the engine runs ahead of its reader (a busy one too)
        await chunks.aclose()  # the client went away after its first chunk
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            counted = value(registry, "inferd_llm_tokens_total", **output) - before
            if generation.completion_tokens and counted == generation.completion_tokens:
                break
            await asyncio.sleep(0.01)
        late = value(registry, "inferd_llm_tokens_after_cancel_total") - late
        return generation.completion_tokens, counted, late

    decoded, counted, late = asyncio.run(leave())
    assert 1 < decoded < 300
    assert counted == decoded
    assert late in (0, 1)


def test_embeddings_are_measured(served: tuple[ServedGenerator, CollectorRegistry]) -> None:
    generator, registry = served
    vectors, tokens = asyncio.run(generator.embed(["a b c", "d e"]))
    assert len(vectors) == 2
    labels = {"operation": "embeddings"}
    assert value(registry, "inferd_llm_tokens_total", type="input", **labels) == tokens
    assert value(registry, "inferd_llm_requests_total", finish_reason="stop", **labels) == 1


def test_embeddings_past_their_deadline_are_errors(
    served: tuple[ServedGenerator, CollectorRegistry],
) -> None:
    generator, registry = served
    labels = {"operation": "embeddings", "finish_reason": "error"}
    before = value(registry, "inferd_llm_requests_total", **labels)
    with pytest.raises(DeadlineExceeded):
        asyncio.run(generator.embed(["a b c"], deadline=time.monotonic() - 1))
    assert value(registry, "inferd_llm_requests_total", **labels) == before + 1
