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


def test_a_version_with_a_ready_replica_is_not_told_as_failed() -> None:
    """A start that fails beside a ready replica (adding a second one on a full machine) leaves
    the version serving: its rollout is left to its analyses, not failed."""
    from types import SimpleNamespace

    from prometheus_client import CollectorRegistry

    from inferd.control.autoscale.loop import AutoscaleLoop
    from inferd.control.replicas.topology import DeploymentRoute, Replica, Topology, VersionRoute

    from .test_start_backoff import FailingReconciler

    ready = Replica("fraud-v1-1", "fraud", "v1", "127.0.0.1", 1, "ready")
    serving = Topology(
        {
            "fraud": DeploymentRoute(
                "fraud", (VersionRoute("v1", "fraud", "fraud:v1", 100, (ready,)),)
            )
        },
        1,
    )
    _, _, reconciler = scaling_from_zero()
    signals = SimpleNamespace(gateway=SimpleNamespace(cold_start=None), held=lambda _: 0)
    told: list[str] = []

    async def listener(deployment: str, version: str, reason: str) -> None:
        told.append(version)

    async def scenario(topology: Topology) -> list[str]:
        told.clear()
        loop = AutoscaleLoop(
            reconciler,
            signals,
            lambda: topology,
            CollectorRegistry(),  # type: ignore[arg-type]
        )
        loop.start_failure_listeners.append(listener)
        await loop._start_failed("fraud", "v1", Unavailable(CAUSE))
        return list(told)

    assert isinstance(reconciler, FailingReconciler)
    assert asyncio.run(scenario(serving)) == []
    assert asyncio.run(scenario(Topology())) == ["v1"]
