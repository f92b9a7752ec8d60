"""A request held for a version at zero that has no weight (a header route's version, one named
in the path) starts that version: the wake started only the versions with a weight, so the
request waited out ``cold_start_timeout`` for a replica nothing started."""

from __future__ import annotations

import asyncio

from inferd.control.replicas.backoff import BackoffPolicy

from ..conftest import spec_text
from .fakes import Wired, counts, ready_topology, settle, wired

ZERO = "{min_replicas: 0, max_replicas: 2, scale_to_zero_after: 5s, cold_start_timeout: 5s}"


def weighted_a_beta_b() -> str:
    """fraud: ``a`` at 100% and ``b`` at 0% (reached by a header route), both at zero."""
    return spec_text({"a": ("fraud:v1", 0, 100), "b": ("fraud:v2", 0, 0)}) + (
        f"    autoscaling: {ZERO}\n"
    )


async def answered_once_started(w: Wired, held: asyncio.Future[bool]) -> bool:
    """Publish the spec's replicas as ready once ``held`` is held and no scale runs, and wait
    for it."""
    async with asyncio.timeout(2):
        while not w.cold.held_for("fraud", "b"):
            await asyncio.sleep(0.01)
    await settle(w)
    w.cold.update(ready_topology(w.reconciler.spec))
    async with asyncio.timeout(2):
        return await held


def test_a_request_held_for_a_version_at_weight_0_starts_it() -> None:
    async def scenario() -> tuple[dict[str, int], bool]:
        w = wired(weighted_a_beta_b(), BackoffPolicy())
        held = asyncio.ensure_future(w.cold.hold("fraud", "b"))
        answered = await answered_once_started(w, held)
        await w.loop.stop()
        return counts(w.reconciler.spec), answered

    started, answered = asyncio.run(scenario())
    assert started["fraud/b"] == 1
    assert answered


def test_a_version_held_for_while_another_starts_is_started_next() -> None:
    """The wake for ``a`` runs (its replica is starting) when a request for ``b`` is held:
    ``b`` is started once that scale is done, not left for the next request."""

    async def scenario() -> tuple[dict[str, int], bool]:
        w = wired(weighted_a_beta_b(), BackoffPolicy())
        w.reconciler.start_s = 0.2
        first = asyncio.ensure_future(w.cold.hold("fraud"))
        async with asyncio.timeout(2):
            while not w.loop._scaling:
                await asyncio.sleep(0.01)
        assert counts(w.reconciler.spec)["fraud/b"] == 0
        held = asyncio.ensure_future(w.cold.hold("fraud", "b"))
        async with asyncio.timeout(2):
            while counts(w.reconciler.spec)["fraud/b"] == 0:
                await asyncio.sleep(0.01)
        answered = await answered_once_started(w, held)
        await first
        await w.loop.stop()
        return counts(w.reconciler.spec), answered

    started, answered = asyncio.run(scenario())
    assert started == {"fraud/a": 1, "fraud/b": 1}
    assert answered
