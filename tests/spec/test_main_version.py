"""The main-version rule as a table: most primary traffic, first on a tie, never the shadow."""

from __future__ import annotations

import pytest

from inferd.spec.edits import main_version, main_version_name
from inferd.spec.model import DeploymentSpec


@pytest.mark.parametrize(
    ("weights", "shadow", "expected"),
    [
        ({"v1": 100}, None, "v1"),
        ({"v1": 90, "v2": 10}, None, "v1"),
        ({"v1": 10, "v2": 90}, None, "v2"),
        ({"v1": 50, "v2": 50}, None, "v1"),  # a tie: the first listed
        ({"v2": 50, "v1": 50}, None, "v2"),
        ({"v1": 0, "v2": 0}, None, "v1"),
        ({"v1": 60, "v2": 40}, "v1", "v2"),  # the shadow never, even with more weight
        ({"v1": 100, "s": 0}, "s", "v1"),
        ({"s": 0, "v1": 100}, "s", "v1"),
        ({"v1": 0.5, "v2": 99.5}, None, "v2"),  # the gateway's weights are floats
        ({"s": 100}, "s", None),  # nothing but the shadow
        ({}, None, None),
    ],
)
def test_main_version_name(weights: dict[str, float], shadow: str | None, expected: str) -> None:
    assert main_version_name(weights, shadow) == expected


def _deployment(weights: dict[str, int], shadow: str | None = None) -> DeploymentSpec:
    versions = [{"name": n, "model": f"fraud:{n}"} for n in ("v1", "v2", "v3")]
    traffic = {"weights": weights, "shadow": shadow}
    return DeploymentSpec.model_validate(
        {"name": "fraud", "versions": versions, "traffic": traffic}
    )


@pytest.mark.parametrize(
    ("weights", "shadow", "expected"),
    [
        ({"v1": 100}, None, "v1"),  # unnamed versions get 0
        ({"v2": 70, "v3": 30}, None, "v2"),
        ({"v1": 50, "v3": 50}, None, "v1"),
        ({"v1": 30, "v2": 70}, "v2", "v1"),
        ({"v3": 100}, "v1", "v3"),
    ],
)
def test_main_version_of_a_deployment(
    weights: dict[str, int], shadow: str | None, expected: str
) -> None:
    assert main_version(_deployment(weights, shadow)).name == expected
