"""The rollout table's divergence column, read from the page Chromium renders."""

from __future__ import annotations

import html
import re
from pathlib import Path

from inferd.control.rollout.analysis import (
    AnalysisPolicy,
    DivergenceStats,
    Observations,
    TrafficStats,
    analyse,
)
from inferd.control.rollout.state import Rollout
from inferd.control.rollout.strategies import Pair
from inferd.spec.model import DeploymentSpec

from .browser import chromium
from .gateway.conftest import ReplicaProcess, deployment, topology, version
from .test_dashboard import dashboard_dom, fleet

__all__ = ["chromium", "fleet"]  # fixtures, used by name


def test_a_rollouts_divergence_column_shows_what_its_check_measured(
    chromium: str, fleet: list[ReplicaProcess], tmp_path: Path
) -> None:
    """Blue-green mirrors the candidate: a scoring model's analysis measures the mean score
    difference and an embedding model's the cosine distance (max_divergence checks it). The
    rollout table's divergence column showed only a label share, so a dash for both."""
    v1, v2 = fleet
    topo = topology(deployment("fraud", version("v1", 100, v1), version("v2", 0, v2)))
    policy = AnalysisPolicy(min_requests=20, max_divergence=0.1, max_score_difference=0.5)
    base = DeploymentSpec.model_validate(
        {"name": "fraud", "versions": [{"name": "v1", "model": "fraud:v1"},
                                       {"name": "v2", "model": "fraud:v2", "replicas": 1}],
         "traffic": {"weights": {"v1": 100}}}
    )  # fmt: skip
    rollout = Rollout("r-5678", "fraud", "blue-green", (), Pair("v1", "v2", {"v1": 100}),
                      policy, 30.0, base)  # fmt: skip
    measured = [
        DivergenceStats(40, label_share=0.025, score_mad=0.0123),
        DivergenceStats(40, cosine_distance=0.02),
        DivergenceStats(0),
    ]
    for div in measured:
        traffic = TrafficStats(40, 0, 0.002, 0.004)
        obs = Observations(traffic, traffic, divergence=div)
        rollout.remember(rollout.record("hold", analyse(policy, obs), obs))

    dom = dashboard_dom(chromium, topo, tmp_path / "profile", rollouts=[rollout.status()])
    rows = re.findall(r'<tr data-event="hold">(.*?)</tr>', dom)
    cells = [html.unescape(re.findall(r"<td[^>]*>(.*?)</td>", row)[5]) for row in rows]
    # Newest first; nothing compared is a dash.
    assert cells == ["\u2013", "cosine distance 0.0200", "2.5% differ \u00b7 MAD 0.0123"]
