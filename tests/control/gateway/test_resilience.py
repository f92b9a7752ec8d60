"""Under load: a replica killed with SIGKILL, and topology updates that replace versions."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable

from inferd.control.gateway import Gateway

from .conftest import (
    FRAUD_BODY,
    Outcomes,
    ReplicaProcess,
    closed_loop,
    deployment,
    run,
    started_gateway,
    topology,
    version,
)


def retries(gateway: Gateway) -> float:
    return sum(
        s.value
        for family in gateway.metrics.registry.collect()
        if family.name == "inferd_gateway_upstream_retries"
        for s in family.samples
        if s.name.endswith("_total")
    )


def test_replica_killed_under_load_loses_no_request(
    spawn: Callable[[str], ReplicaProcess],
) -> None:
    a, b = spawn("fraud:v1"), spawn("fraud:v1")
    # The topology still says "ready" after the kill: the gateway must cope on its own until
    # the supervisor publishes the next snapshot.
    topo = topology(deployment("fraud", version("v1", 100, a, b)))

    async def scenario() -> tuple[Outcomes, float]:
        gateway = await started_gateway(topo)
        stop = asyncio.Event()
        url = f"http://127.0.0.1:{gateway.port}/v2/models/fraud/infer"
        try:
            load = asyncio.create_task(closed_loop(url, FRAUD_BODY, concurrency=8, stop=stop))
            await asyncio.sleep(0.7)
            os.kill(a.proc.pid, signal.SIGKILL)
            await asyncio.sleep(1.0)
            stop.set()
            out = await load
            return out, retries(gateway)
        finally:
            await gateway.stop(5)

    out, retried = run(scenario)
    assert a.proc.wait(5) == -signal.SIGKILL
    assert len(out.statuses) > 100
    assert out.failed() == []
    # In-flight requests on the killed replica and the first tries after it were retried.
    assert retried >= 1


def test_topology_updates_under_load_lose_no_request(
    spawn: Callable[[str], ReplicaProcess],
) -> None:
    old, new = spawn("fraud:v1"), spawn("fraud:v2")
    gen1 = topology(deployment("fraud", version("v1", 100, old)), generation=1)
    gen2 = topology(
        deployment("fraud", version("v1", 50, old), version("v2", 50, new)), generation=2
    )
    gen3 = topology(deployment("fraud", version("v2", 100, new)), generation=3)

    async def scenario() -> tuple[Outcomes, int]:
        gateway = await started_gateway(gen1)
        stop = asyncio.Event()
        url = f"http://127.0.0.1:{gateway.port}/v2/models/fraud/infer"
        try:
            load = asyncio.create_task(closed_loop(url, FRAUD_BODY, concurrency=8, stop=stop))
            await asyncio.sleep(0.4)
            gateway.update(gen2)
            await asyncio.sleep(0.4)
            gateway.update(gen3)
            # The replaced version's replica drains (as the supervisor stops it) while the
            # load goes on against the new one.
            old.proc.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.2)
            await asyncio.sleep(0.6)
            stop.set()
            out = await load
            return out, gateway.status()["generation"]
        finally:
            await gateway.stop(5)

    out, generation = run(scenario)
    assert generation == 3
    assert out.failed() == []
    assert {"v1", "v2"} <= set(out.versions)
    # After the last update only v2 answers.
    assert out.versions[-50:] == ["v2"] * 50
    assert old.proc.wait(20) == 0


def test_rollback_to_zero_weight_stops_canary_traffic(
    replicas: dict[str, list[ReplicaProcess]],
) -> None:
    canary = topology(
        deployment("fraud", version("v1", 90, *replicas["v1"]), version("v2", 10, *replicas["v2"]))
    )
    rollback = topology(
        deployment("fraud", version("v1", 100, *replicas["v1"]), version("v2", 0, *replicas["v2"])),
        generation=2,
    )

    async def scenario() -> tuple[Outcomes, Outcomes]:
        gateway = await started_gateway(canary)
        url = f"http://127.0.0.1:{gateway.port}/v2/models/fraud/infer"
        try:
            before = await closed_loop(url, FRAUD_BODY, concurrency=4, requests=500)
            gateway.update(rollback)
            after = await closed_loop(url, FRAUD_BODY, concurrency=4, requests=1000)
            return before, after
        finally:
            await gateway.stop(5)

    before, after = run(scenario)
    assert before.failed() == after.failed() == []
    assert "v2" in before.versions
    assert set(after.versions) == {"v1"}
