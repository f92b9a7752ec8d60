"""A replica that cannot start (a model that cannot load) while scaling from zero: the held
requests get 503 with its reason as soon as the start fails, and the next start waits out the
restart backoff, as a crashed replica's restart does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry

from inferd.control.autoscale.coldstart import ColdStart
from inferd.control.autoscale.loop import AutoscaleLoop
from inferd.control.replicas.backoff import BackoffPolicy
from inferd.control.replicas.topology import Topology
from inferd.errors import Unavailable
from inferd.spec.loading import parse_spec
from inferd.spec.model import Spec

from ..conftest import spec_text

CAUSE = "replica fraud-v1-1 cannot start fraud:broken: onnxruntime cannot load 'model.onnx'"
#: Backoff delays short enough for a test: 0.2 s, then 0.4 s.
BACKOFF = BackoffPolicy(initial_s=0.2, factor=2.0, max_s=30.0)


class FailingReconciler:
    """Runs ``spec``; every change fails after ``start_s``, as a replica that cannot load."""

    def __init__(self, spec: Spec, start_s: float = 0.1) -> None:
        self.spec = spec
        self.start_s = start_s
        self.changes: list[float] = []
        self.supervisor = SimpleNamespace(backoff=BACKOFF)

    async def change(self, edit: Callable[[Spec], Spec]) -> None:
        self.changes.append(time.monotonic())
        edit(self.spec)
        await asyncio.sleep(self.start_s)
        raise Unavailable(CAUSE)


def scaling_from_zero() -> tuple[AutoscaleLoop, ColdStart, FailingReconciler]:
    """The autoscaler and the gateway's cold start of a deployment at zero, wired as
    ``inferd up`` wires them, over a reconciler whose starts fail."""
    spec = parse_spec(
        spec_text({"v1": ("fraud:broken", 0, 100)})
        + "    autoscaling: {min_replicas: 0, max_replicas: 2, metric: concurrency, target: 1, "
        "scale_to_zero_after: 5s, cold_start_timeout: 8s}\n"
    )
    reconciler = FailingReconciler(spec)
    registry = CollectorRegistry()
    loop: AutoscaleLoop

    def timeout(deployment: str) -> float | None:
        return loop.cold_start_timeout(deployment)

    def wake(deployment: str) -> None:
        loop.wake(deployment)

    cold = ColdStart(timeout, wake, registry)
    signals = SimpleNamespace(gateway=SimpleNamespace(cold_start=cold), held=cold.held)
    loop = AutoscaleLoop(reconciler, signals, Topology, registry)  # type: ignore[arg-type]
    return loop, cold, reconciler


def test_held_requests_fail_fast_with_the_cause_and_starts_back_off() -> None:
    async def scenario() -> None:
        loop, cold, reconciler = scaling_from_zero()
        began = time.monotonic()
        held = [asyncio.ensure_future(cold.hold("fraud", "v1")) for _ in range(2)]
        for request in held:
            with pytest.raises(Unavailable, match=r"could not start a replica: .*cannot load") as e:
                await request
            assert e.value.retry_after == pytest.approx(0.2)
        assert time.monotonic() - began < 1.0  # not the cold-start timeout of 8 s
        assert len(reconciler.changes) == 1  # one start for both requests
        # Within the backoff: refused at once with the same reason, and nothing is started.
        with pytest.raises(Unavailable, match="cannot load") as e:
            await cold.hold("fraud", "v1")
        assert 0 < e.value.retry_after <= 0.2
        loop.wake("fraud")
        assert len(reconciler.changes) == 1 and cold.held("fraud") == 0
        # Once it has run out, a request starts one again; it fails, and the delay doubles.
        await asyncio.sleep(0.25)
        with pytest.raises(Unavailable, match="cannot load") as e:
            await cold.hold("fraud", "v1")
        assert e.value.retry_after == pytest.approx(0.4)
        assert len(reconciler.changes) == 2
        assert reconciler.changes[1] - reconciler.changes[0] >= 0.2 + reconciler.start_s
        await loop.stop()

    asyncio.run(scenario())
