"""The replicas as series: states per version now, routed versions at 0 included, and each
exit unasked counted once per time a replica becomes failed."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from inferd.control.replicas.series import ReplicaSeries
from inferd.control.replicas.topology import Replica, ReplicaState


def _replica(id_: str, state: ReplicaState, version: str = "v1") -> Replica:
    return Replica(id_, "fraud", version, "127.0.0.1", 1, state)


def _value(series: ReplicaSeries, sample: str) -> float | None:
    registry = CollectorRegistry()
    registry.register(series)
    for line in generate_latest(registry).decode().splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    return None


def test_each_failure_counts_once_and_states_are_counted_now() -> None:
    series = ReplicaSeries()
    routed = [("fraud", "v1"), ("fraud", "v2")]
    # v1-1 fails its start, is restarted, fails again; v2-1 (unrouted canary) never starts.
    steps: list[list[Replica]] = [
        [_replica("v1-1", "starting")],
        [_replica("v1-1", "failed")],
        [_replica("v1-1", "failed")],  # another replica's change: no new failure
        [_replica("v1-1", "starting"), _replica("v2-1", "failed", "v3")],
        [_replica("v1-1", "failed"), _replica("v2-1", "failed", "v3")],
    ]
    for replicas in steps:
        series.observe(replicas, routed)
    failures = 'inferd_replica_failures_total{deployment="fraud",version="%s"}'
    assert _value(series, failures % "v1") == 2
    assert _value(series, failures % "v3") == 1  # not routed: a start that failed counts
    assert _value(series, failures % "v2") is None
    states = 'inferd_replicas{deployment="fraud",state="%s",version="%s"}'
    assert _value(series, states % ("failed", "v1")) == 1
    assert _value(series, states % ("ready", "v2")) == 0  # routed, none running
    series.observe([_replica("v1-2", "ready")], routed)  # v1-1 retired, v1-2 ready
    assert _value(series, states % ("failed", "v1")) == 0
    assert _value(series, states % ("ready", "v1")) == 1
    assert _value(series, failures % "v1") == 2  # a counter: retiring forgets nothing
