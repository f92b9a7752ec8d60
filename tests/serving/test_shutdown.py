"""Closing the data plane at shutdown, after a drain that timed out on a model still running."""

from __future__ import annotations

import asyncio

import pytest

from inferd.serving.stats import VersionState

from .conftest import Harness, request, rows


def test_close_after_a_timed_out_drain_does_not_wait_for_a_batch_still_running(
    harness: Harness,
) -> None:
    """The server promises to exit drain_timeout_s after the signal, but after a drain that
    timed out the unload drained every batcher again without a bound: a model stuck in predict
    (here held at the probe's gate) kept `inferd serve` alive until its call returned. Now the
    close leaves a version still running a batch as it is (the process is exiting), closes the
    others, and returns."""
    harness.push("stuck:v1")
    harness.push("idle:v1", factor=3.0)

    async def main() -> None:
        plane, manager, _ = harness.plane()
        await manager.serve(["stuck:v1"])
        await manager.serve(["idle:v1"])
        harness.probe.hold()
        stuck = asyncio.ensure_future(plane.infer(request("stuck", rows(1, 1.0))))
        await asyncio.to_thread(harness.probe.entered.wait, 10)
        plane.begin_drain()
        assert not await plane.drain(0.01)
        stuck.cancel()  # what the listeners' drain does with what is left
        # a bound so that the bug fails the test instead of hanging it; the gate stays held
        await asyncio.wait_for(plane.close(drained=False), 20)
        assert manager.get("idle").state is VersionState.UNAVAILABLE
        assert manager.get("idle").model is None
        assert manager.get("stuck").state is VersionState.UNAVAILABLE
        harness.probe.release()
        with pytest.raises(asyncio.CancelledError):
            await stuck

    asyncio.run(main())
