"""A load never blocks the event loop: resolving the runtime (which may import its framework),
loading the files and the warm-up all run on the version's worker thread."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import ClassVar

from inferd.card import ModelCard
from inferd.config import ServerSettings
from inferd.observe.metrics import ServerMetrics
from inferd.runtimes.base import LoadOptions, Model
from inferd.runtimes.onnx import OnnxRuntime
from inferd.runtimes.warmup import warmup_inputs
from inferd.serving.manager import ModelManager
from inferd.serving.source import Loaders, StoreSource

from .conftest import Harness

#: How long the double's framework import and model load each take.
SLOW_S = 0.4
#: The issue's bound for a liveness answer while a model loads.
LIVE_WITHIN_S = 0.050


class SlowRuntime:
    """The ONNX runtime behind a slow import and a slow load (blocking calls, like the real
    ones: scikit-learn's import took 1.2 s on the event loop before)."""

    name: ClassVar[str] = "onnx"

    def __init__(self) -> None:
        time.sleep(SLOW_S)  # importing the framework
        self._onnx = OnnxRuntime()

    def load(self, path: Path, card: ModelCard, options: LoadOptions) -> Model:
        time.sleep(SLOW_S)  # reading and building a large model
        return self._onnx.load(path, card, options)


async def _max_lag_while(work: asyncio.Future[None]) -> float:
    """The longest the loop took to come back to a 1 ms sleep while ``work`` ran."""
    worst = 0.0
    while not work.done():
        started = time.perf_counter()
        await asyncio.sleep(0.001)
        worst = max(worst, time.perf_counter() - started)
    await work
    return worst


def test_the_event_loop_stays_responsive_during_a_slow_load(harness: Harness) -> None:
    harness.push("m:v1")

    async def main() -> None:
        loaders = Loaders(
            source=StoreSource(harness.store),
            runtime=lambda _name: SlowRuntime(),
            warmup_inputs=warmup_inputs,
        )
        manager = ModelManager(loaders, ServerSettings(), ServerMetrics())
        try:
            started = time.perf_counter()
            lag = await _max_lag_while(asyncio.ensure_future(manager.load("m", "m:v1")))
            assert time.perf_counter() - started >= 2 * SLOW_S  # it was slow
            assert manager.get("m").serving
            assert lag < LIVE_WITHIN_S, f"the loop stalled {lag * 1000:.0f} ms"
        finally:
            await manager.close()

    asyncio.run(main())
