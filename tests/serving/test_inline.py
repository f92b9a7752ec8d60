"""Lone one-row requests to a small, inline-safe model run on the event loop; everything else
runs on the model's worker thread (inferd.serving.inline)."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import onnxruntime as ort
import pytest

from inferd.config import BatchingSettings
from inferd.datatypes import Tensors
from inferd.errors import InternalError, Unavailable
from inferd.observe.metrics import ServerMetrics
from inferd.runtimes.base import Model
from inferd.runtimes.onnx_session import OnnxModel
from inferd.serving import inline
from inferd.serving.batcher import Batcher
from inferd.serving.inline import INLINE_NS, InlinePolicy
from inferd.serving.stats import VersionStats
from inferd.serving.worker import ModelWorker

from .conftest import FEATURES, scale_onnx

_CPU = ["CPUExecutionProvider"]


class Doubler:
    """Doubles its input, noting the thread each batch ran on; ``delay_s`` slows it down."""

    def __init__(self, *, inline_safe: bool, delay_s: float = 0.0) -> None:
        self.inline_safe = inline_safe
        self.delay_s = delay_s
        self.fail = False
        self.threads: list[int] = []

    def predict(self, inputs: Tensors) -> Tensors:
        self.threads.append(threading.get_ident())
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.fail:
            raise RuntimeError("kernel failed")
        return {"y": inputs["x"] * 2}

    def close(self) -> None:
        return


def _rows(n: int) -> Tensors:
    return {"x": np.arange(n * 2, dtype=np.float32).reshape(n, 2)}


def _batcher(model: Model, worker: ModelWorker) -> Batcher:
    return Batcher(
        "m:1", model, worker, BatchingSettings(), batchable=True,
        stats=VersionStats(), metrics=ServerMetrics().bind("m", "1"),
    )  # fmt: skip


def _serve(model: Doubler, requests: list[int]) -> tuple[list[int], int]:
    """Send one request of each row count in turn, each after the last was answered; returns
    the threads the model ran on, and the event loop's thread."""

    async def scenario() -> tuple[list[int], int]:
        worker = ModelWorker("m")
        batcher = _batcher(model, worker)
        try:
            for n in requests:
                out = await batcher.submit(_rows(n), n, ((2,),), time.monotonic() + 5)
                np.testing.assert_array_equal(out["y"], _rows(n)["x"] * 2)
        finally:
            worker.stop()
        return model.threads, threading.get_ident()

    return asyncio.run(scenario())


def test_lone_one_row_requests_run_on_the_loop_once_measured_fast() -> None:
    threads, loop = _serve(Doubler(inline_safe=True), [1] * 8 + [1, 3, 1])
    on_loop = [t == loop for t in threads]
    # The first is measured on the worker (a cold first run may take a few more); once the
    # estimate is low, one-row requests run on the loop, and three rows go to the worker.
    assert not on_loop[0]
    assert on_loop[-3:] == [True, False, True]


def test_models_that_do_not_say_they_are_inline_safe_always_use_the_worker() -> None:
    threads, loop = _serve(Doubler(inline_safe=False), [1, 1, 1])
    assert loop not in threads


def test_a_slow_model_stays_on_its_worker() -> None:
    slow = Doubler(inline_safe=True, delay_s=2 * INLINE_NS / 1e9)
    threads, loop = _serve(slow, [1, 1, 1, 1])
    assert loop not in threads


def test_a_failure_on_the_loop_fails_the_request_as_on_the_worker_and_serving_goes_on() -> None:
    model = Doubler(inline_safe=True)

    async def scenario() -> None:
        worker = ModelWorker("m")
        batcher = _batcher(model, worker)
        try:
            # Measured until it runs on the loop (a busy machine's slow run is forgotten).
            for _ in range(200):
                await batcher.submit(_rows(1), 1, ((2,),), time.monotonic() + 5)
                if model.threads[-1] == threading.get_ident():
                    break
            model.fail = True
            with pytest.raises(InternalError, match="failed to run the batch"):
                await batcher.submit(_rows(1), 1, ((2,),), time.monotonic() + 5)
            assert model.threads[-1] == threading.get_ident()  # it ran on the loop
            model.fail = False
            out = await batcher.submit(_rows(1), 1, ((2,),), time.monotonic() + 5)
            np.testing.assert_array_equal(out["y"], _rows(1)["x"] * 2)
            assert batcher.inflight == 0
        finally:
            worker.stop()

    asyncio.run(scenario())


def test_the_policy_follows_the_recent_one_row_runs() -> None:
    policy = InlinePolicy(Doubler(inline_safe=True))
    assert not policy.allows(1, 1)  # nothing measured yet
    policy.measured(1, 1, 10_000)
    assert policy.allows(1, 1)
    assert not policy.allows(2, 2) and not policy.allows(1, 4)
    policy.measured(3, 3, 10_000_000)  # batches of several requests do not count
    assert policy.allows(1, 1)
    for _ in range(20):  # the model got slow: back to the worker
        policy.measured(1, 1, 10 * INLINE_NS)
    assert not policy.allows(1, 1)


def test_an_onnx_model_answers_lone_requests_without_its_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A real onnxruntime session: once measured, one-row requests are answered even with its
    worker thread stopped (a stopped worker answers every job with Unavailable). The threshold
    is raised so that a run slowed by a busy machine cannot send the next one back to the
    worker: what is tested is where a lone request runs, not how fast it is."""
    monkeypatch.setattr(inline, "INLINE_NS", 10**10)
    session = ort.InferenceSession(scale_onnx(2.0).SerializeToString(), providers=_CPU)
    threads: list[int] = []

    class Noting(OnnxModel):
        def predict(self, inputs: Tensors) -> Tensors:
            threads.append(threading.get_ident())
            return super().predict(inputs)

    model = Noting(session)
    one = {"x": np.ones((1, FEATURES), dtype=np.float32)}

    async def scenario() -> None:
        worker = ModelWorker("m")
        batcher = _batcher(model, worker)
        # Measured on the worker, then on the loop once the recent runs are fast (a busy
        # machine's slow run takes a few more to be forgotten).
        for _ in range(200):
            await batcher.submit(one, 1, ((FEATURES,),), time.monotonic() + 5)
            if threads[-1] == threading.get_ident():
                break
        assert threads[0] != threads[-1] == threading.get_ident()
        worker.stop()  # from now on every job it is given is answered Unavailable
        out = await batcher.submit(one, 1, ((FEATURES,),), time.monotonic() + 5)
        np.testing.assert_array_equal(out["y"], one["x"] * 2)
        with pytest.raises(Unavailable):  # two rows go to the (stopped) worker
            two = {"x": np.ones((2, FEATURES), dtype=np.float32)}
            await batcher.submit(two, 2, ((FEATURES,),), time.monotonic() + 5)

    asyncio.run(scenario())
