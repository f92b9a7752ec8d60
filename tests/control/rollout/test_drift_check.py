"""The rollout's input-drift check, fed by real DriftMonitor numbers as a model server exports
them: shifted inputs on the candidate fail ``max_drift_psi``, in-distribution inputs pass."""

from __future__ import annotations

import numpy as np
from prometheus_client import CollectorRegistry, generate_latest

from inferd.control.gateway.aggregate import ReplicaReading, read_replica
from inferd.control.replicas.topology import Replica
from inferd.control.rollout.analysis import AnalysisPolicy, Observations, TrafficStats, analyse
from inferd.control.rollout.observe import drift_psi
from inferd.observe.drift import DriftCollector, DriftMonitor
from inferd.observe.profile import build_profile

RNG = np.random.default_rng(11)
PROFILE = build_profile({"input": RNG.random((5_000, 8))})
POLICY = AnalysisPolicy(min_requests=10, max_drift_psi=0.2, failure_limit=1)
TRAFFIC = TrafficStats(requests=400, errors=0, p50_s=0.001, p99_s=0.002)


def _replica_text(rows: np.ndarray | None) -> str:
    """The ``/metrics`` text of one server whose version saw ``rows``."""
    registry = CollectorRegistry()
    collector = DriftCollector()
    registry.register(collector)
    monitor = DriftMonitor(PROFILE)
    collector.watch("fraud", "v2", monitor)
    if rows is not None:
        for start in range(0, len(rows), 16):
            monitor.observe({"input": rows[start : start + 16]})
    return generate_latest(registry).decode()


def _replica(version: str, index: int = 0) -> Replica:
    return Replica(f"fraud-{version}-{index}", "fraud", version, "127.0.0.1", 1, "ready")


def _readings(*texts: tuple[Replica, str]) -> list[ReplicaReading]:
    """What the gateway reads from replicas that expose ``texts``."""
    return [read_replica(replica, text) for replica, text in texts]


def test_shifted_candidate_inputs_roll_back() -> None:
    shifted = RNG.random((1_000, 8)) + 0.6  # most values beyond the training range
    texts = [(_replica("v2"), _replica_text(shifted)), (_replica("v1"), _replica_text(None))]
    psi = drift_psi(_readings(*texts), "fraud", "v2")
    assert psi is not None and psi > 1.0
    verdict = analyse(POLICY, Observations(TRAFFIC, TRAFFIC, drift_psi=psi))
    assert verdict.action == "rollback"
    assert any(r.startswith("drift_psi") for r in verdict.reasons)


def test_in_distribution_inputs_promote() -> None:
    texts = [
        (_replica("v2", 0), _replica_text(RNG.random((1_000, 8)))),
        (_replica("v2", 1), _replica_text(RNG.random((1_000, 8)))),
    ]
    psi = drift_psi(_readings(*texts), "fraud", "v2")
    assert psi is not None and psi < 0.1
    verdict = analyse(POLICY, Observations(TRAFFIC, TRAFFIC, drift_psi=psi))
    assert verdict.action == "promote"
    assert [c.passed for c in verdict.checks if c.metric == "drift_psi"] == [True]


def test_drift_is_not_measured_without_profile_or_rows() -> None:
    few = _replica_text(RNG.random((200, 8)))  # below the monitor's minimum
    assert drift_psi(_readings((_replica("v2"), few)), "fraud", "v2") is None
    assert drift_psi(_readings((_replica("v2"), "")), "fraud", "v2") is None
    other = [(_replica("v1"), _replica_text(RNG.random((1_000, 8)) + 1))]
    assert drift_psi(_readings(*other), "fraud", "v2") is None
    verdict = analyse(POLICY, Observations(TRAFFIC, TRAFFIC, drift_psi=None))
    assert verdict.action == "promote"
    assert [c.passed for c in verdict.checks if c.metric == "drift_psi"] == [None]
