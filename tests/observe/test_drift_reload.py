"""A version reloaded from a card without a reference profile stops exporting drift: it kept
the replaced version's PSI and KS, frozen, as if they still described what it serves."""

from __future__ import annotations

import asyncio

import numpy as np
import onnx

from inferd.packaging import push
from serving.conftest import Harness, harness, request, rows, scale_onnx

__all__ = ["harness"]


def _drift_lines(text: bytes) -> list[str]:
    return [
        line
        for line in text.decode().splitlines()
        if line.startswith("inferd_input_drift") and 'model="m"' in line
    ]


def test_a_reload_without_a_profile_stops_the_drift_series(harness: Harness) -> None:
    folder = harness.root / "profiled"
    folder.mkdir()
    onnx.save(scale_onnx(2.0), folder / "model.onnx")
    reference = harness.root / "train.npy"
    np.save(reference, np.random.default_rng(0).uniform(size=(200, 4)).astype(np.float32))
    push(harness.store, folder, "m:v1", reference_data=reference)

    async def main() -> tuple[list[str], list[str]]:
        plane, manager, metrics = harness.plane()
        await manager.serve(["m:v1"])
        try:
            await plane.infer(request(x=rows(8)))
            before = _drift_lines(metrics.render())
            harness.push("m:v1")  # the same tag, now without a profile
            await plane.load("m")
            return before, _drift_lines(metrics.render())
        finally:
            await plane.close()

    before, after = asyncio.run(main())
    assert before, "the profiled version exports drift"
    assert after == []
