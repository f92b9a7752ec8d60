"""Scale from zero at the gateway: held requests are released by a topology with a ready
replica, bounded in number, and refused after the cold-start timeout."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from inferd.control.autoscale.coldstart import ColdStart
from inferd.control.autoscale.loop import scaled_to_zero
from inferd.control.replicas.topology import DeploymentRoute, Replica, Topology, VersionRoute
from inferd.errors import Unavailable
from inferd.spec.loading import parse_spec

from ..conftest import spec_text


def ready_replica(version: str) -> Replica:
    return Replica(f"fraud-{version}-1", "fraud", version, "127.0.0.1", 1, "ready")


def topology(ready: bool) -> Topology:
    replicas = (ready_replica("v1"),) if ready else ()
    version = VersionRoute("v1", "fraud", "fraud:v1", 100, replicas)
    return Topology({"fraud": DeploymentRoute("fraud", (version,))}, 1)


def test_held_requests_are_released_when_a_replica_is_ready() -> None:
    woken: list[str] = []
    registry = CollectorRegistry()

    cold = ColdStart(lambda _: 5.0, woken.append, registry)

    async def scenario() -> list[bool]:
        waiters = [asyncio.ensure_future(cold.hold("fraud")) for _ in range(3)]
        await asyncio.sleep(0.05)
        assert cold.held("fraud") == 3
        cold.update(topology(ready=False))  # still starting: nobody leaves
        await asyncio.sleep(0.05)
        assert not any(w.done() for w in waiters)
        cold.update(topology(ready=True))
        return list(await asyncio.gather(*waiters))

    assert asyncio.run(scenario()) == [True, True, True]
    assert woken == ["fraud"] * 3 and cold.held("fraud") == 0
    text = generate_latest(registry).decode()
    assert 'inferd_autoscaler_cold_start_seconds_count{deployment="fraud"} 1.0' in text


def test_a_request_held_for_a_version_waits_for_that_version() -> None:
    """A request routed to a version scaled to zero is not released by another version's
    ready replica (the canary that runs beside a stable version at zero)."""
    canary = VersionRoute("v2", "fraud", "fraud:v2", 20, (ready_replica("v2"),))
    asleep = VersionRoute("v1", "fraud", "fraud:v1", 80)
    awake = VersionRoute("v1", "fraud", "fraud:v1", 80, (ready_replica("v1"),))
    cold = ColdStart(lambda _: 5.0, lambda _: None, CollectorRegistry())

    async def scenario() -> None:
        for_v1 = asyncio.ensure_future(cold.hold("fraud", "v1"))
        for_any = asyncio.ensure_future(cold.hold("fraud"))
        await asyncio.sleep(0.05)
        cold.update(Topology({"fraud": DeploymentRoute("fraud", (asleep, canary))}, 2))
        await asyncio.sleep(0.05)
        assert for_any.done() and not for_v1.done()
        cold.update(Topology({"fraud": DeploymentRoute("fraud", (awake, canary))}, 3))
        assert await for_v1 is True

    asyncio.run(scenario())


def test_a_wake_starts_every_version_at_zero_that_takes_traffic() -> None:
    """The stable version at zero beside its canary is woken, though the canary runs; a
    version at weight 0 or the shadow takes no request, and is left at zero."""
    spec = parse_spec(
        spec_text(
            {"a1": ("fraud:v1", 0, 80), "a1-next": ("fraud:v2", 1, 20), "old": ("fraud:v1", 0, 0),
             "mirror": ("fraud:v2", 0, 0)},
            shadow="mirror",
        )
        + "    autoscaling: {min_replicas: 0, max_replicas: 3}\n"
    )  # fmt: skip
    assert scaled_to_zero(spec.deployments[0]) == ["a1"]


def test_deployments_that_do_not_scale_from_zero_are_not_held() -> None:
    woken: list[str] = []
    cold = ColdStart(lambda _: None, woken.append, CollectorRegistry())
    assert asyncio.run(cold.hold("fraud")) is False
    assert not cold.can_hold("fraud") and not woken


def test_the_wait_is_bounded_in_time_and_in_number() -> None:
    cold = ColdStart(lambda _: 0.1, lambda _: None, CollectorRegistry(), max_held=2)

    async def scenario() -> None:
        first = [asyncio.ensure_future(cold.hold("fraud")) for _ in range(2)]
        await asyncio.sleep(0.01)
        with pytest.raises(Unavailable, match="2 requests are already waiting"):
            await cold.hold("fraud")
        for waiter in first:
            with pytest.raises(Unavailable, match=r"did not start a replica within 0\.1 s"):
                await waiter
        assert cold.held("fraud") == 0

    asyncio.run(scenario())
