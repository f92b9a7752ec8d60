"""A request held for a version at zero and then refused (its start failed, the hold timed out)
counts against that version, so a rollout's analysis of a canary started from zero sees its
failures; it was counted under ``version="unknown"``, and a canary that could not load failed
a fifth of the requests while its analysis read "0 of 20 candidate requests"."""

from __future__ import annotations

import pytest

from inferd.control.gateway.metrics import GatewayMetrics
from inferd.control.gateway.selection import Selection
from inferd.control.replicas.topology import VersionRoute
from inferd.errors import Unavailable

from .conftest import deployment, run, topology


class FailingStart:
    """A cold start whose every hold ends in the start's failure."""

    def can_hold(self, deployment: str) -> bool:
        return True

    async def hold(self, deployment: str, version: str | None) -> bool:
        raise Unavailable("replica fraud-v2-0 keeps failing: exited 1", retry_after=2)


def _refused_hold(held_for: str | None) -> list[tuple[str, str, int]]:
    """What the gateway records for a request held for version ``held_for`` of a deployment
    at zero (None: no version chosen yet) whose start fails."""
    candidate = VersionRoute("v2", "fraud", "fraud:v2", 100)
    topo = topology(deployment("fraud", candidate))
    recorded: list[tuple[str, str, int]] = []
    selection = Selection(
        lambda: topo,
        GatewayMetrics(),
        lambda d, v, status, _: recorded.append((d, v, status)),
        FailingStart,  # type: ignore[arg-type]
    )
    version = candidate if held_for == candidate.name else None

    async def scenario() -> None:
        with pytest.raises(Unavailable):
            await selection.held(topo.deployments["fraud"], version, {}, None, 0.0)

    run(scenario)
    return recorded


def test_a_refused_hold_counts_against_the_version_it_was_held_for() -> None:
    assert _refused_hold("v2") == [("fraud", "v2", 503)]


def test_a_refused_hold_for_no_version_yet_counts_for_the_deployment() -> None:
    assert _refused_hold(None) == [("fraud", "", 503)]
