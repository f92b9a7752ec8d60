"""The status and the ``inferd_autoscaler_*`` series report every version the autoscaler scales:
the main version and each version a request woke, which scales on its own traffic — not only
the main version, which left a woken canary's decisions invisible."""

from __future__ import annotations

import asyncio

from inferd.control.autoscale.status import ScalingStatus
from inferd.control.replicas.backoff import BackoffPolicy

from .fakes import Wired, counts, settle, two_versions, wired
from .test_woken_versions import SCALING


def by_version(w: Wired) -> dict[str, ScalingStatus]:
    return {s["version"]: s for s in w.loop.status()}


def gauge(w: Wired, name: str, version: str) -> float | None:
    labels = {"deployment": "fraud", "version": version}
    return w.registry.get_sample_value(f"inferd_autoscaler_{name}", labels)


def test_a_woken_canary_has_its_own_status_entry_and_series() -> None:
    async def scenario() -> None:
        w = wired(two_versions("fraud:v1", "fraud:v2", SCALING), BackoffPolicy())
        w.loop.wake("fraud")
        await settle(w)
        w.loop.start()
        # Three requests in flight on the canary, one on the main version.
        w.signals.values = {("fraud", "a"): 1.0, ("fraud", "b"): 3.0}
        async with asyncio.timeout(3):
            while counts(w.reconciler.spec) != {"fraud/a": 1, "fraud/b": 3}:
                await asyncio.sleep(0.02)
            while by_version(w).get("b", {}).get("actual") != 3:
                await asyncio.sleep(0.02)
        entries = w.loop.status()
        assert [(s["deployment"], s["version"], s["main"]) for s in entries] == [
            ("fraud", "a", True),
            ("fraud", "b", False),
        ]
        main, canary = entries
        assert (canary["desired"], canary["value"], canary["scaled_on"]) == (3, 3.0, "version")
        assert (main["desired"], main["value"], main["scaled_on"]) == (1, 1.0, "version")
        assert gauge(w, "desired_replicas", "b") == 3
        assert gauge(w, "actual_replicas", "b") == 3
        assert gauge(w, "desired_replicas", "a") == 1
        value = w.registry.get_sample_value(
            "inferd_autoscaler_metric_value",
            {"deployment": "fraud", "version": "b", "window": "stable"},
        )
        assert value is not None and value > 0
        ups = [
            w.registry.get_sample_value(
                "inferd_autoscaler_decisions_total",
                {"deployment": "fraud", "version": "b", "reason": reason},
            )
            for reason in ("scale_up", "panic", "max_replicas")
        ]
        assert any(ups), ups
        await w.loop.stop()

    asyncio.run(scenario())


def test_a_version_back_at_zero_leaves_the_status_and_its_gauges() -> None:
    """Once the canary is back at zero it is no longer scaled: its entry and its gauges go (a
    stale ``ready`` would read as a version that serves), and the main version's entry says it
    scales on the deployment's total again."""

    async def scenario() -> None:
        w = wired(two_versions("fraud:v1", "fraud:v2", SCALING), BackoffPolicy())
        w.loop.wake("fraud")
        await settle(w)
        w.loop.start()
        w.signals.values = {("fraud", "a"): 1.0}
        async with asyncio.timeout(5):
            while counts(w.reconciler.spec)["fraud/b"] > 0:
                await asyncio.sleep(0.05)
            while set(by_version(w)) != {"a"}:
                await asyncio.sleep(0.05)
        assert by_version(w)["a"]["scaled_on"] == "deployment"
        assert gauge(w, "desired_replicas", "b") is None
        assert gauge(w, "ready_replicas", "b") is None
        assert gauge(w, "desired_replicas", "a") == 1
        await w.loop.stop()

    asyncio.run(scenario())


def test_a_wake_reports_scale_from_zero_for_each_version_it_starts() -> None:
    async def scenario() -> None:
        w = wired(two_versions("fraud:v1", "fraud:v2", SCALING), BackoffPolicy())
        w.loop.wake("fraud")
        await settle(w)
        for version in ("a", "b"):
            assert gauge(w, "desired_replicas", version) == 1
            woken = w.registry.get_sample_value(
                "inferd_autoscaler_decisions_total",
                {"deployment": "fraud", "version": version, "reason": "scale_from_zero"},
            )
            assert woken == 1

    asyncio.run(scenario())
