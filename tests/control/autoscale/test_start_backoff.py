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
from inferd.spec.edits import deployment_of, replace_deployment, with_replicas
from inferd.spec.loading import parse_spec
from inferd.spec.model import Spec

from ..conftest import spec_text
from .fakes import CAUSE as START_FAILURE
from .fakes import cold_start_of, counts, settle, two_versions, wired

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
    cold = cold_start_of(lambda: loop, registry)
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


#: A backoff long enough that a test never sees it run out.
LONG_BACKOFF = BackoffPolicy(initial_s=30.0)
ZERO = "{min_replicas: 0, max_replicas: 2, scale_to_zero_after: 5s, cold_start_timeout: 5s}"


def test_one_versions_failed_start_holds_back_no_other_version() -> None:
    """The main version cannot load; its canary can: a wake starts the canary, a request for
    the canary is not refused with the main version's failure, and only the main version backs
    off."""

    async def scenario() -> None:
        w = wired(two_versions("fraud:broken", "fraud:v2", ZERO), LONG_BACKOFF)
        w.loop.wake("fraud")
        await settle(w)
        assert counts(w.reconciler.spec) == {"fraud/a": 0, "fraud/b": 1}
        # The main version is in backoff: a request for it is refused with its cause...
        with pytest.raises(Unavailable, match="fraud-a-1 cannot start"):
            await w.cold.hold("fraud", "a")
        # ...and its backoff does not stop the canary from starting again once at zero.
        w.reconciler.spec = replace_spec(w.reconciler.spec, b=0)
        w.loop.wake("fraud")
        await settle(w)
        assert counts(w.reconciler.spec) == {"fraud/a": 0, "fraud/b": 1}
        await w.loop.stop()

    asyncio.run(scenario())


def test_a_removed_deployment_forgets_its_failed_starts() -> None:
    """Removed by an apply and added again (its model fixed), a deployment starts at once:
    it does not inherit the backoff of the deployment of the same name that was removed."""

    async def scenario() -> None:
        broken = two_versions("fraud:broken", "fraud:broken", ZERO)
        w = wired(broken, LONG_BACKOFF)
        w.loop.wake("fraud")
        await settle(w)
        with pytest.raises(Unavailable, match="cannot start"):
            await w.cold.hold("fraud", "a")
        other = parse_spec(broken.replace("name: fraud", "name: other"))
        w.reconciler.spec = other
        w.loop.applied()  # what the admin API calls after every apply
        w.reconciler.spec = parse_spec(two_versions("fraud:v1", "fraud:v2", ZERO))
        w.loop.applied()
        w.loop.wake("fraud")
        await settle(w)
        assert counts(w.reconciler.spec) == {"fraud/a": 1, "fraud/b": 1}
        await w.loop.stop()

    asyncio.run(scenario())


def test_a_deployment_removed_by_a_rollout_or_between_ticks_is_forgotten_too() -> None:
    """Without the admin API's call (a rollout's edit): the next tick forgets it."""

    async def scenario() -> None:
        broken = two_versions("fraud:broken", "fraud:broken", ZERO)
        w = wired(broken, LONG_BACKOFF)
        w.loop.start()
        w.loop.wake("fraud")
        await settle(w)
        w.reconciler.spec = parse_spec(broken.replace("name: fraud", "name: other"))
        await asyncio.sleep(0.3)  # a few ticks
        w.reconciler.spec = parse_spec(two_versions("fraud:v1", "fraud:v2", ZERO))
        w.loop.wake("fraud")
        await settle(w)
        assert counts(w.reconciler.spec) == {"fraud/a": 1, "fraud/b": 1}
        await w.loop.stop()

    asyncio.run(scenario())


def replace_spec(spec: Spec, **replicas: int) -> Spec:
    """``spec`` with these replica counts for versions of fraud."""
    d = deployment_of(spec, "fraud")
    for version, count in replicas.items():
        d = with_replicas(d, version, count)
    return replace_deployment(spec, d)


def test_the_status_says_why_the_start_failed_while_it_backs_off() -> None:
    """``inferd ps --json``'s ``gateway.autoscaling`` entry: reason ``start_backoff`` with the
    failed start's message, how many failed in a row and the seconds left."""

    async def scenario() -> None:
        w = wired(two_versions("fraud:broken", "fraud:v2", ZERO), LONG_BACKOFF)
        w.loop.wake("fraud")
        await settle(w)
        w.signals.values = {("fraud", "a"): 2.0}  # demand for the main version
        w.loop.start()
        async with asyncio.timeout(2):
            while not w.loop.status() or w.loop.status()[0]["reason"] != "start_backoff":
                await asyncio.sleep(0.02)
        entry = w.loop.status()[0]
        failure = entry["start_failure"]
        assert failure is not None
        assert failure["message"] == START_FAILURE.format(version="a")
        assert failure["failures"] == 1 and 29 < failure["retry_in_s"] <= 30
        await w.loop.stop()

    asyncio.run(scenario())
