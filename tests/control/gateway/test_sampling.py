"""What one history sample holds, from the gateway's real counters, replicas' real expositions
and status documents shaped as ``inferd up`` serves them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from inferd.control.gateway.compare import Divergence
from inferd.control.gateway.history import History, HistoryOptions, SeriesKey
from inferd.control.gateway.metrics import GatewayMetrics
from inferd.control.gateway.sampling import Sampler
from inferd.control.replicas.topology import (
    DeploymentRoute,
    Replica,
    ReplicaState,
    Topology,
    VersionRoute,
)
from inferd.observe.metrics import ServerMetrics
from inferd.store.history import HistoryEvent

T0 = 1_700_000_000.0


def replica(rid: str, version: str, pid: int = 100, state: ReplicaState = "ready") -> Replica:
    return Replica(rid, "fraud", version, "127.0.0.1", 1, state, pid=pid)


V1 = (replica("v1-0", "v1"), replica("v1-1", "v1", pid=101))
V2 = (replica("v2-0", "v2"), replica("v2-1", "v2", state="starting"))
V3 = (replica("v3-0", "v3"),)
TOPOLOGY = Topology(
    {
        "fraud": DeploymentRoute(
            "fraud",
            (
                VersionRoute("v1", "fraud", "fraud:v1@sha256:" + "1" * 64, 90, V1),
                VersionRoute("v2", "fraud", "fraud:production@sha256:" + "2" * 64, 10, V2),
                VersionRoute("v3", "fraud", "fraud:v3", 0, V3),
            ),
            shadow="v3",
        )
    },
    1,
)


def at(history: History, key: SeriesKey) -> float | None:
    """The newest value of ``key``."""
    doc = history.document()
    for s in doc["series"]:
        if SeriesKey(s["deployment"], s["version"], s["metric"], s["label"]) == key:
            return s["values"][-1]
    return None


def exposition(batches: list[int], psi: dict[str, float] | None = None) -> str:
    """A replica's /metrics after running ``batches`` (rows each), with drift gauges."""
    metrics = ServerMetrics()
    bound = metrics.bind("fraud", "1")
    for rows in batches:
        bound.batch_size.observe(rows)
    text = metrics.render().decode()
    if psi:
        text += "# HELP inferd_input_drift_psi PSI.\n# TYPE inferd_input_drift_psi gauge\n"
        for feature, value in psi.items():
            text += (
                f'inferd_input_drift_psi{{model="fraud",version="1",input="input",'
                f'feature="{feature}"}} {value}\n'
            )
    return text


@pytest.fixture
def history() -> History:
    return History(HistoryOptions(interval_s=5, span_s=60))


def test_traffic_of_the_interval_per_version(history: History) -> None:
    metrics = GatewayMetrics()
    sampler = Sampler(history, T0)
    for _ in range(50):
        metrics.request("fraud", "v1", 200, 0.004)
    sampler.sample(T0 + 5, TOPOLOGY, metrics.reading(), [], {})
    # The first sample has nothing to subtract: no rates yet, replicas already.
    assert at(history, SeriesKey("fraud", "v1", "rps")) is None
    assert at(history, SeriesKey("fraud", "v2", "replicas")) == 1.0
    for _ in range(90):
        metrics.request("fraud", "v1", 200, 0.004)
    for _ in range(10):
        metrics.request("fraud", "v1", 503, 0.5)
    metrics.request("fraud", "v1", 400, 0.001)  # the client's error, not the version's
    metrics.shadow("fraud", "v1", "v3", "compared")
    metrics.shadow("fraud", "v1", "v3", "compared")
    metrics.shadow("fraud", "v1", "v3", "timeout")
    metrics.shadow("fraud", "v1", "v3", "dropped")
    metrics.divergence("fraud", "v1", "v3", Divergence("label", "share", 0.5, 4, 2))
    metrics.divergence("fraud", "v1", "v3", Divergence("probabilities", "mad", 0.02, 8, 0))
    sampler.sample(T0 + 10, TOPOLOGY, metrics.reading(), [], {})
    assert at(history, SeriesKey("fraud", "v1", "rps")) == pytest.approx(101 / 5)
    assert at(history, SeriesKey("fraud", "v1", "error_rate")) == pytest.approx(10 / 101)
    p99 = at(history, SeriesKey("fraud", "v1", "p99_ms"))
    assert p99 is not None and 250 < p99 <= 500  # in the 0.25-0.5 s bucket: the 503s
    assert at(history, SeriesKey("fraud", "v2", "rps")) == 0.0
    assert at(history, SeriesKey("fraud", "v2", "error_rate")) is None  # no requests
    assert at(history, SeriesKey("fraud", "v3", "rps")) == pytest.approx(3 / 5)
    assert at(history, SeriesKey("fraud", "v3", "error_rate")) == pytest.approx(1 / 3)
    assert at(history, SeriesKey("fraud", "v3", "divergence_share")) == 0.5
    assert at(history, SeriesKey("fraud", "v3", "divergence_mad")) == 0.02
    assert at(history, SeriesKey("fraud", "v1", "replicas")) == 2.0


def test_mean_batch_size_over_the_interval_and_the_worst_replicas_drift(
    history: History,
) -> None:
    sampler = Sampler(history, T0)
    first = [(V1[0], exposition([1, 1])), (V1[1], exposition([8]))]
    sampler.sample(T0 + 5, TOPOLOGY, GatewayMetrics().reading(), first, {})
    assert at(history, SeriesKey("fraud", "v1", "batch_size")) is None  # baselines only
    second = [
        (V1[0], exposition([1, 1, 4, 4], {"0": 0.05, "1": 0.4})),
        (V1[1], exposition([8, 2], {"0": 0.3, "1": 0.1})),
    ]
    sampler.sample(T0 + 10, TOPOLOGY, GatewayMetrics().reading(), second, {})
    # Since the last sample: batches of 4, 4 and 2 rows.
    assert at(history, SeriesKey("fraud", "v1", "batch_size")) == pytest.approx(10 / 3, rel=1e-5)
    assert at(history, SeriesKey("fraud", "v1", "drift_psi", "input[0]")) == 0.3
    assert at(history, SeriesKey("fraud", "v1", "drift_psi", "input[1]")) == 0.4
    # A restarted replica (new pid, counters from zero) sets a new baseline, no negative mean.
    restarted = replica("v1-1", "v1", pid=202)
    third = [(V1[0], exposition([1, 1, 4, 4])), (restarted, exposition([3]))]
    sampler.sample(T0 + 15, TOPOLOGY, GatewayMetrics().reading(), third, {})
    assert at(history, SeriesKey("fraud", "v1", "batch_size")) is None


def test_cost_when_the_status_has_it_and_nothing_without(history: History) -> None:
    sampler = Sampler(history, T0)
    sampler.sample(T0 + 5, TOPOLOGY, GatewayMetrics().reading(), [], {"cost": None})
    assert at(history, SeriesKey("fraud", "v1", "cost_per_1k")) is None
    cost = {
        "currency": "USD",
        "window_s": 3600,
        "versions": [
            {"deployment": "fraud", "version": "v1", "per_1k_predictions": 0.012,
             "idle_share": 0.25},
            {"deployment": "fraud", "version": "v2", "per_1k_predictions": None,
             "idle_share": 1.0},
        ],
        "total": {},
    }  # fmt: skip
    sampler.sample(T0 + 10, TOPOLOGY, GatewayMetrics().reading(), [], {"cost": cost})
    assert at(history, SeriesKey("fraud", "v1", "cost_per_1k")) == 0.012
    assert at(history, SeriesKey("fraud", "v1", "idle_share")) == 0.25
    assert at(history, SeriesKey("fraud", "v2", "cost_per_1k")) is None  # no predictions
    assert at(history, SeriesKey("fraud", "v2", "idle_share")) == 1.0


def decision(
    event: str, when: float, stage: int, weight: int, **extra: object
) -> dict[str, object]:
    return {"time": when, "deployment": "fraud", "rollout": "r-1", "event": event,
            "strategy": "canary", "stable": "v1", "candidate": "v2", "stage": stage,
            "candidate_weight": weight, **extra}  # fmt: skip


def test_rollout_steps_and_phase_changes_are_marked_once(history: History) -> None:
    sampler = Sampler(history, T0)
    decisions = [decision("start", T0 + 1, 1, 20), decision("analysis", T0 + 2, 1, 20)]
    rollout = {"id": "r-1", "deployment": "fraud", "decisions": decisions}
    reading = GatewayMetrics().reading()
    sampler.sample(T0 + 5, TOPOLOGY, reading, [], {"rollouts": [rollout]})
    decisions += [
        decision("hold", T0 + 6, 1, 20),
        decision("advance", T0 + 7, 2, 50),
        decision("rollback", T0 + 8, 2, 0, reason="error_rate 0.2 above limit 0.01"),
    ]
    sampler.sample(T0 + 10, TOPOLOGY, reading, [], {"rollouts": [rollout]})
    sampler.sample(T0 + 15, TOPOLOGY, reading, [], {"rollouts": [rollout]})
    events = history.document()["events"]
    assert [(e["time"], e["kind"], e["text"]) for e in events] == [
        (T0 + 1, "rollout", "canary v1 → v2 started at 20%"),
        (T0 + 7, "rollout", "step 2: v2 at 50%"),
        (T0 + 8, "rollout", "rolled back to v1: error_rate 0.2 above limit 0.01"),
    ]
    # A new rollout of the same deployment is marked from its start.
    again = {"id": "r-2", "deployment": "fraud", "decisions": [decision("start", T0 + 12, 1, 20)]}
    sampler.sample(T0 + 20, TOPOLOGY, reading, [], {"rollouts": [again]})
    assert history.document()["events"][-1]["time"] == T0 + 12


def test_a_decision_from_before_the_gateway_started_is_not_marked(history: History) -> None:
    sampler = Sampler(history, T0)
    rollout = {"id": "r-0", "deployment": "fraud", "decisions": [decision("start", T0 - 9, 1, 5)]}
    sampler.sample(T0 + 5, TOPOLOGY, GatewayMetrics().reading(), [], {"rollouts": [rollout]})
    assert history.document()["events"] == []


def move(tag: str, action: str, old: str | None, new: str | None, when: float) -> HistoryEvent:
    stamp = datetime.fromtimestamp(when, UTC)
    return HistoryEvent("fraud", tag, action, old, new, "ana", "host", stamp)  # type: ignore[arg-type]


def test_tag_moves_after_start_are_marked_once(history: History) -> None:
    sampler = Sampler(history, T0)
    old, new = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    moves = {
        "fraud": [
            move("production", "tag", None, old, T0 - 60),  # before the gateway started
            move("v9", "push", None, new, T0 + 2),  # a new tag: not an alias moving
            move("production", "tag", old, new, T0 + 3),
            move("v1", "rm", old, None, T0 + 4),
        ]
    }
    sampler.mark_moves(TOPOLOGY, moves)
    sampler.mark_moves(TOPOLOGY, moves)  # seen already
    history.record(T0 + 5, {})
    events = history.document()["events"]
    assert [(e["time"], e["kind"], e["deployment"], e["text"]) for e in events] == [
        (T0 + 3, "alias", "fraud", "fraud:production → sha256:222222222222 (tag by ana)"),
        (T0 + 4, "alias", "fraud", "fraud:v1 → removed (rm by ana)"),
    ]
