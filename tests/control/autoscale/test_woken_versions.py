"""A version other than the main one, woken from zero by a request routed to it (a canary, an
A/B version), is scaled on its own load under the deployment's policy: up past one replica,
and back to zero when idle — not left at the replica it was woken with."""

from __future__ import annotations

import asyncio

from inferd.control.replicas.backoff import BackoffPolicy
from inferd.spec.edits import deployment_of, replace_deployment, with_routing

from .fakes import Wired, counts, settle, two_versions, wired

SCALING = (
    "{min_replicas: 0, max_replicas: 3, metric: concurrency, target: 1, stable_window: 1s, "
    "panic_window: 1s, scale_down_window: 0s, scale_to_zero_after: 1s, cold_start_timeout: 5s}"
)


def test_a_woken_canary_scales_up_on_its_own_load_and_back_to_zero() -> None:
    async def scenario() -> None:
        w = wired(two_versions("fraud:v1", "fraud:v2", SCALING), BackoffPolicy())
        w.loop.wake("fraud")
        await settle(w)
        assert counts(w.reconciler.spec) == {"fraud/a": 1, "fraud/b": 1}
        w.loop.start()
        # Three requests in flight on the canary, none on the main version.
        w.signals.values = {("fraud", "b"): 3.0}
        async with asyncio.timeout(3):
            while counts(w.reconciler.spec)["fraud/b"] < 3:
                await asyncio.sleep(0.02)
        assert counts(w.reconciler.spec)["fraud/b"] == 3
        # Idle again: the canary goes back to zero after scale_to_zero_after.
        w.signals.values = {}
        async with asyncio.timeout(5):
            while counts(w.reconciler.spec)["fraud/b"] > 0:
                await asyncio.sleep(0.05)
        await w.loop.stop()

    asyncio.run(scenario())


def test_a_woken_version_back_at_zero_is_no_longer_scaled_on_its_own() -> None:
    """Once the woken version is back at zero it is forgotten: only a request wakes it again
    (the main version is scaled on the deployment's total, as before)."""

    async def scenario() -> None:
        w = wired(two_versions("fraud:v1", "fraud:v2", SCALING), BackoffPolicy())
        w.loop.wake("fraud")
        await settle(w)
        w.loop.start()
        async with asyncio.timeout(5):
            while counts(w.reconciler.spec) != {"fraud/a": 0, "fraud/b": 0}:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        assert ("fraud", "b") in w.signals.forgotten
        w.signals.sampled.clear()
        await asyncio.sleep(0.3)
        assert w.signals.sampled and set(w.signals.sampled) == {("fraud", None)}
        await w.loop.stop()

    asyncio.run(scenario())


def test_each_version_scales_on_its_own_load_not_the_others_twice() -> None:
    """While the woken canary scales on its own traffic, the main version scales on its own
    too: the deployment's total would have it scale for the canary's load as well."""

    async def scenario() -> None:
        w = wired(two_versions("fraud:v1", "fraud:v2", SCALING), BackoffPolicy())
        w.loop.wake("fraud")
        await settle(w)
        w.loop.start()
        w.signals.values = {("fraud", "a"): 2.0, ("fraud", "b"): 3.0}
        async with asyncio.timeout(3):
            while counts(w.reconciler.spec) != {"fraud/a": 2, "fraud/b": 3}:
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        assert counts(w.reconciler.spec) == {"fraud/a": 2, "fraud/b": 3}
        assert max(c.get("fraud/a", 0) for c in w.reconciler.changes) == 2  # never the total
        await w.loop.stop()

    asyncio.run(scenario())


def test_a_woken_canary_whose_traffic_is_taken_away_goes_back_to_zero() -> None:
    """A rollback (or abort, or an apply) gave the woken canary's weight back to the main
    version: the canary was forgotten at the count it had, so a replica of a version that
    takes no traffic ran on forever in a deployment that scales to zero. It is scaled on its
    own (idle) traffic until it is back at zero, as any woken version."""

    async def scenario() -> None:
        w = wired(two_versions("fraud:v1", "fraud:v2", SCALING), BackoffPolicy())
        w.loop.wake("fraud")
        await settle(w)
        assert counts(w.reconciler.spec) == {"fraud/a": 1, "fraud/b": 1}
        w.signals.values = {("fraud", "a"): 1.0}  # the main version keeps its load
        w.loop.start()
        await _route_until_at_zero(w, {"a": 100, "b": 0}, "b")
        assert counts(w.reconciler.spec) == {"fraud/a": 1, "fraud/b": 0}
        await w.loop.stop()

    asyncio.run(scenario())


def test_the_main_version_a_promotion_took_the_traffic_from_goes_back_to_zero() -> None:
    """A promotion gave the canary all the traffic: the old main version was no longer the
    main one nor woken, so its replica ran on idle forever in a deployment that scales to
    zero. It is scaled on its own traffic until it is back at zero, as a woken version."""

    async def scenario() -> None:
        w = wired(two_versions("fraud:v1", "fraud:v2", SCALING), BackoffPolicy())
        w.loop.wake("fraud")
        await settle(w)
        w.signals.values = {("fraud", "a"): 1.0, ("fraud", "b"): 1.0}
        w.loop.start()
        async with asyncio.timeout(5):  # a tick has scaled ``a`` as the main version
            while not any(s["main"] and s["version"] == "a" for s in w.loop.status()):
                await asyncio.sleep(0.01)
        w.signals.values = {("fraud", "b"): 1.0}  # the promoted canary's load; ``a`` idles
        await _route_until_at_zero(w, {"a": 0, "b": 100}, "a")
        assert counts(w.reconciler.spec) == {"fraud/a": 0, "fraud/b": 1}
        await w.loop.stop()

    asyncio.run(scenario())


async def _route_until_at_zero(w: Wired, weights: dict[str, int], idle: str) -> None:
    """Publish ``weights`` for ``fraud``, then wait until version ``idle`` is back at zero."""
    await w.reconciler.change(
        lambda s: replace_deployment(s, with_routing(deployment_of(s, "fraud"), weights, None))
    )
    async with asyncio.timeout(5):
        while counts(w.reconciler.spec)[f"fraud/{idle}"] > 0:
            await asyncio.sleep(0.05)
