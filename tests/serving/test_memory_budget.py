"""The memory budget charges each version the resident memory its load added (measured), and a
version that measures more than it was charged makes idle ones unload."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from inferd.card import ModelCard
from inferd.datatypes import Tensors
from inferd.errors import InvalidArgument, Unavailable
from inferd.generation import TextGenerator
from inferd.observe.metrics import ServerMetrics
from inferd.packaging import push
from inferd.runtimes import get_runtime
from inferd.runtimes.base import LoadOptions, Model
from inferd.runtimes.onnx import OnnxRuntime
from inferd.serving.budget import EVICTED, resident_bytes
from inferd.serving.stats import VersionState

from .conftest import Harness, request, rows

MEMORY = "inferd_model_memory_bytes"


def _memory(metrics: ServerMetrics, model: str, version: str = "v1") -> float | None:
    return metrics.registry.get_sample_value(MEMORY, {"model": model, "version": version})


class Meter:
    """Resident memory that grows by ``growth`` bytes across each load (the manager reads it
    once before and once after every load)."""

    def __init__(self, growth: int) -> None:
        self.growth = growth
        self.value = 1 << 30
        self._reads = 0

    def __call__(self) -> int:
        self._reads += 1
        if self._reads % 2 == 0:
            self.value += self.growth
        return self.value


def test_a_loaded_version_is_charged_what_its_load_added(harness: Harness) -> None:
    harness.push("m:v1")
    assert resident_bytes() is not None  # Linux: /proc/self/statm

    async def main() -> None:
        plane, manager, metrics = harness.plane()
        await manager.serve(["m:v1"])
        try:
            served = manager.get("m")
            assert served.resident_growth is not None
            assert served.size == max(served.resident_growth, harness.size("m:v1"))
            assert _memory(metrics, "m") == served.size
            await plane.unload("m")
            assert _memory(metrics, "m") == 0
        finally:
            await plane.close()

    asyncio.run(main())


def test_the_budget_charges_measured_memory_not_file_size(harness: Harness) -> None:
    harness.push("a:v1", factor=2.0)
    harness.push("b:v1", factor=5.0)
    growth = 10 * max(harness.size("a:v1"), harness.size("b:v1"))
    # Room for both by their files' size, for one by what their loads measured.
    budget = growth * 3 // 2

    async def main() -> None:
        plane, _, metrics = harness.plane(meter=Meter(growth), memory_budget_bytes=budget)
        try:
            await plane.load("a", "a:v1")
            assert _memory(metrics, "a") == growth
            await plane.load("b", "b:v1")  # charged its files to load, then measured: a unloads
            rows_by_name = {r.name: r for r in plane.repository_index()}
            assert rows_by_name["a"].state is VersionState.UNAVAILABLE
            assert rows_by_name["a"].reason == EVICTED
            assert _memory(metrics, "a") == 0 and _memory(metrics, "b") == growth
            # a comes back on its next request, charged what it measured: b makes room.
            response = await plane.infer(request("a", rows(1, 1.0)))
            np.testing.assert_allclose(response.outputs[0].data, rows(1, 1.0) * 2)
            assert _memory(metrics, "b") == 0
            assert plane.ready()
        finally:
            await plane.close()

    asyncio.run(main())


def test_a_version_measured_beyond_the_whole_budget_is_unloaded_and_failed(
    harness: Harness,
) -> None:
    harness.push("m:v1")
    size = harness.size("m:v1")

    async def main() -> None:
        plane, _, metrics = harness.plane(meter=Meter(10 * size), memory_budget_bytes=2 * size)
        try:
            # No retry can make it fit: not Unavailable (503 with Retry-After, retried for good
            # by a Triton client), but a refusal naming the flag to raise.
            with pytest.raises(InvalidArgument, match="more than the memory budget") as refused:
                await plane.load("m", "m:v1")
            [row] = plane.repository_index()
            assert row.state is VersionState.FAILED and row.reason == refused.value.message
            assert "--memory-budget" in refused.value.message
            labels = {"model": "m", "version": "v1"}
            assert (
                metrics.registry.get_sample_value("inferd_model_load_failures_total", labels) == 1
            )
            assert _memory(metrics, "m") == 0
        finally:
            await plane.close()

    asyncio.run(main())


class Generating:
    """An ONNX model that also answers as a language model, ``running`` generations under way:
    a language model's generations do not pass through its batcher."""

    context_length = 512
    embeddings = False

    def __init__(self, inner: Model) -> None:
        self._inner = inner
        self.running = 0

    def predict(self, inputs: Tensors) -> Tensors:
        return self._inner.predict(inputs)

    def close(self) -> None:
        self._inner.close()

    def chat_prompt(self, messages: object) -> str:
        raise NotImplementedError

    def count_tokens(self, text: str) -> int:
        return len(text)

    def generate(self, *args: object, **kwargs: object) -> object:
        raise NotImplementedError

    def embed(self, texts: object) -> object:
        raise NotImplementedError

    def load(self) -> tuple[int, int]:
        return self.running, 0

    def occupancy(self) -> tuple[int, float]:
        return 0, 0.0


def test_a_language_model_generating_is_not_evicted(harness: Harness) -> None:
    """Evicting it freed llama.cpp's contexts under its running generations."""
    harness.push("a:v1", factor=2.0)
    harness.push("b:v1", factor=5.0)
    harness.push("c:v1", factor=7.0)
    growth = 10 * max(harness.size("a:v1"), harness.size("b:v1"))
    generating: list[Generating] = []

    class Runtime:
        name = "onnx"

        def load(self, path: Path, card: ModelCard, options: LoadOptions) -> Model:
            model = OnnxRuntime().load(path, card, options)
            if card.name != "a":
                return model
            generating.append(Generating(model))
            return generating[-1]

    async def main() -> tuple[VersionState, VersionState]:
        plane, manager, _ = harness.plane(meter=Meter(growth), memory_budget_bytes=growth * 3 // 2)
        manager._loaders = dataclasses.replace(manager._loaders, runtime=lambda _: Runtime())
        try:
            await plane.load("a", "a:v1")
            (model,) = generating
            assert isinstance(model, TextGenerator)
            model.running = 1
            await plane.load("b", "b:v1")  # over the budget, but a is busy generating
            busy = {r.name: r.state for r in plane.repository_index()}["a"]
            model.running = 0
            await plane.load("c", "c:v1")  # a and b idle now: the least recently used goes
            idle = {r.name: r.state for r in plane.repository_index()}["a"]
            return busy, idle
        finally:
            await plane.close()

    busy, idle = asyncio.run(main())
    assert busy is VersionState.READY
    assert idle is VersionState.UNAVAILABLE


def test_an_evicted_language_model_is_still_listed(harness: Harness) -> None:
    """``/v1/models`` (``generators()``) dropped a language model the budget evicted, though a
    request naming it loads it again."""
    pytest.importorskip("llama_cpp", reason="the llm extra is not installed (make test does)")
    from llm_files import tiny_gguf

    folder = harness.root / "llm"
    folder.mkdir()
    tiny_gguf(folder / "tiny.gguf")
    push(harness.store, folder, "llm:v1")
    harness.push("m:v1")
    growth = 10 * max(harness.size("llm:v1"), harness.size("m:v1"))

    async def main() -> tuple[list[str], VersionState, list[str]]:
        plane, manager, _ = harness.plane(meter=Meter(growth), memory_budget_bytes=growth * 3 // 2)
        manager._loaders = dataclasses.replace(manager._loaders, runtime=get_runtime)
        try:
            await plane.load("llm", "llm:v1")
            before = [g.model for g in plane.generators()]
            await plane.load("m", "m:v1")  # evicts llm
            state = {r.name: r.state for r in plane.repository_index()}["llm"]
            return before, state, [g.model for g in plane.generators()]
        finally:
            await plane.close()

    before, state, after = asyncio.run(main())
    assert before == ["llm"] and state is VersionState.UNAVAILABLE
    assert after == ["llm"]


def test_a_request_while_its_version_is_being_evicted_waits_and_loads_it_again(
    harness: Harness,
) -> None:
    """A request arriving while an idle version was being unloaded to make room (its model
    closing) got 503 'a:v1 cannot serve: not loaded': the version was marked evicted only once
    it was down. It now waits for the unload, then loads the version again, as a request for an
    evicted version does."""
    harness.push("a:v1", factor=2.0)
    harness.push("b:v1", factor=5.0)
    growth = 10 * max(harness.size("a:v1"), harness.size("b:v1"))

    async def main() -> None:
        plane, manager, _ = harness.plane(meter=Meter(growth), memory_budget_bytes=growth * 3 // 2)
        try:
            await plane.load("a", "a:v1")
            harness.probe.close_gate.clear()
            harness.probe.closing.clear()
            loading_b = asyncio.ensure_future(plane.load("b", "b:v1"))
            await asyncio.to_thread(harness.probe.closing.wait, 10)  # a's model is closing
            assert manager.get("a").state is VersionState.UNLOADING
            answer = asyncio.ensure_future(plane.infer(request("a", rows(1, 1.0))))
            await asyncio.sleep(0)
            harness.probe.close_gate.set()
            await loading_b
            response = await answer
            np.testing.assert_allclose(response.outputs[0].data, rows(1, 1.0) * 2)
            rows_by_name = {r.name: r for r in plane.repository_index()}
            assert rows_by_name["a"].state is VersionState.READY
            assert rows_by_name["b"].reason == EVICTED
        finally:
            harness.probe.release()
            await plane.close()

    asyncio.run(main())


def test_an_evicted_version_refused_room_while_others_are_busy_loads_on_a_later_request(
    harness: Harness,
) -> None:
    """Reloading an evicted version when only busy versions held the budget answered 503
    '...busy; retry', but left the version FAILED: every later request got that 503 again, and
    readiness stayed false, long after the others went idle. A later request now loads it."""
    harness.push("a:v1", factor=2.0)
    harness.push("b:v1", factor=5.0)
    growth = 10 * max(harness.size("a:v1"), harness.size("b:v1"))

    async def main() -> None:
        plane, manager, _ = harness.plane(meter=Meter(growth), memory_budget_bytes=growth * 3 // 2)
        try:
            await plane.load("a", "a:v1")
            await plane.load("b", "b:v1")  # a is evicted
            harness.probe.hold()
            busy = asyncio.ensure_future(plane.infer(request("b", rows(1, 1.0))))
            await asyncio.to_thread(harness.probe.entered.wait, 10)
            with pytest.raises(Unavailable, match="busy; retry"):
                await plane.infer(request("a", rows(1, 1.0)))
            assert plane.ready()
            assert (manager.get("a").state, manager.get("a").reason) == (
                VersionState.UNAVAILABLE,
                EVICTED,
            )
            harness.probe.release()
            await busy
            response = await plane.infer(request("a", rows(1, 1.0)))
            np.testing.assert_allclose(response.outputs[0].data, rows(1, 1.0) * 2)
            assert manager.get("a").state is VersionState.READY
        finally:
            harness.probe.release()
            await plane.close()

    asyncio.run(main())
