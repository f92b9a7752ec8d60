"""The autoscaler tells its start-failure listeners (the rollout controller, wired by ``inferd
up``) which version could not start and why: a canary whose candidate cannot start then fails
at once rather than after ``failure_limit`` analyses of 503s."""

from __future__ import annotations

import asyncio

import pytest

from inferd.errors import Unavailable

from .test_start_backoff import CAUSE, scaling_from_zero


def test_a_failed_start_is_told_to_the_listeners_with_its_reason() -> None:
    async def scenario() -> None:
        loop, cold, _ = scaling_from_zero()
        told: list[tuple[str, str, str]] = []
        answered = asyncio.Event()

        async def listener(deployment: str, version: str, reason: str) -> None:
            told.append((deployment, version, reason))
            answered.set()

        loop.start_failure_listeners.append(listener)
        with pytest.raises(Unavailable, match="could not start a replica"):
            await cold.hold("fraud", "v1")
        async with asyncio.timeout(5):
            await answered.wait()
        assert told == [("fraud", "v1", f"deployment 'fraud' could not start a replica: {CAUSE}")]
        await loop.stop()

    asyncio.run(scenario())
