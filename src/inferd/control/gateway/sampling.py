"""What the gateway records in its :class:`~.history.History` every interval.

A :class:`Sampler` is given, once per interval, what the gateway sees at that moment: its
routing snapshot, its cumulative counters (:class:`~.readings.GatewayReading`), every ready
replica's ``/metrics`` text and the status document ``/api/status`` serves. It turns them into
one sample per series — per deployment and version:

- ``rps``, ``error_rate`` (gateway outcomes of a server error: 503, 504, other 5xx; None without
  requests) and ``p99_ms``, over the interval only (the counters' difference since the last
  sample); for a shadow version, its mirrored copies (failed and timed-out copies as errors) and
  the ``divergence_share`` / ``divergence_mad`` of its answers from the primary's;
- ``replicas``: ready replicas now;
- ``batch_size``: the mean rows per batch its replicas ran over the interval (their
  ``inferd_batch_size`` histograms' sum and count differences; a replica seen for the first
  time sets its baseline);
- ``drift_psi`` per input feature: the replicas' ``inferd_input_drift_psi`` (the worst replica
  per feature; PSI is over every row since load, see :mod:`inferd.observe.drift`);
- ``cost_per_1k`` and ``idle_share`` when the status document has a ``"cost"`` section.

It also marks events on the charts: each rollout decision that changes a step or phase (from
the document's ``"rollouts"``), and each tag moved in the store under a name a deployment serves
(:mod:`.lineage`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from inferd.control.gateway.history import History, Metric, SeriesKey
from inferd.control.gateway.lineage import model_names
from inferd.control.gateway.readings import GatewayReading
from inferd.control.replicas.topology import DeploymentRoute, Replica, Topology
from inferd.observe.drift import DRIFT_PSI
from inferd.store.history import HistoryEvent

#: Gateway outcomes that are the version's errors (HTTP 5xx); client errors are the client's.
SERVER_ERRORS = frozenset({"unavailable", "deadline", "error"})
#: Mirrored copies that count as the shadow's errors; a dropped copy was never sent.
SHADOW_ERRORS = frozenset({"failed", "timeout"})
#: The replicas' batch-size histogram (:mod:`inferd.observe.metrics`): rows and batches.
_BATCH_ROWS = "inferd_batch_size_sum"
_BATCHES = "inferd_batch_size_count"
_SAMPLED = (_BATCH_ROWS, _BATCHES, DRIFT_PSI)
#: Rollout decisions that change a step or a phase (analyses and holds change neither).
MARKED_DECISIONS = frozenset(
    {"start", "advance", "promote", "rollback", "abort", "pause", "resume", "supersede", "failed"}
)

Values = dict[SeriesKey, float | None]


class Sampler:
    """Turns one interval's observations into a history sample and chart events."""

    def __init__(self, history: History, started: float) -> None:
        self.history = history
        self._reading: GatewayReading | None = None
        self._read_at = started
        #: (replica id, pid) → its batch-size histogram's (sum, count) at the last sample.
        self._batches: dict[tuple[str, int | None], tuple[float, float]] = {}
        #: Per deployment, (rollout id, time of its newest decision marked).
        self._decisions: dict[str, tuple[str, float]] = {}
        #: Per model name, the time of its newest tag move seen; moves before start are old.
        self._moves_seen: dict[str, datetime] = {}
        self._started = datetime.fromtimestamp(started, UTC)

    def sample(
        self,
        at: float,
        topology: Topology,
        reading: GatewayReading,
        metrics: Iterable[tuple[Replica, str]],
        status: Mapping[str, object],
    ) -> None:
        """Record the sample of time ``at`` (seconds since the epoch)."""
        values: Values = {}
        previous, seconds = self._reading, at - self._read_at
        self._reading, self._read_at = reading, at
        delta = reading.since(previous) if previous is not None and seconds > 0 else None
        for d in topology.deployments.values():
            for v in d.versions:
                values[SeriesKey(d.name, v.name, "replicas")] = float(len(v.ready_replicas))
                if delta is not None:
                    values.update(_traffic(delta, d, v.name, seconds))
        values.update(self._replicas(metrics))
        values.update(_cost(status.get("cost")))
        self.history.record(at, values)
        self._mark_rollouts(status.get("rollouts"))

    def mark_moves(self, topology: Topology, moves: Mapping[str, list[HistoryEvent]]) -> None:
        """Mark the tag moves (of :func:`~.lineage.tag_moves`) not marked yet on the charts of
        every deployment serving that name."""
        serving: dict[str, list[str]] = {}
        for deployment, names in model_names(topology).items():
            for name in names:
                serving.setdefault(name, []).append(deployment)
        for name, events in moves.items():
            seen = self._moves_seen.get(name, self._started)
            new = [e for e in events if e.time > seen and _moved(e)]
            if not new:
                continue
            self._moves_seen[name] = max(e.time for e in new)
            for e, deployment in ((e, d) for e in new for d in serving.get(name, ())):
                target = _short(e.new) if e.new is not None else "removed"
                self.history.mark(
                    {
                        "time": e.time.timestamp(),
                        "deployment": deployment,
                        "kind": "alias",
                        "text": f"{name}:{e.tag} → {target} ({e.action} by {e.user})",
                    }
                )

    def _replicas(self, metrics: Iterable[tuple[Replica, str]]) -> Values:
        """Mean batch size over the interval and PSI per feature, per version."""
        batch: dict[SeriesKey, tuple[float, float]] = {}
        psi: dict[SeriesKey, float] = {}
        counters: dict[tuple[str, int | None], tuple[float, float]] = {}
        for replica, text in metrics:
            rows = batches = 0.0
            for s in _samples(text):
                if s.name == _BATCH_ROWS:
                    rows += s.value
                elif s.name == _BATCHES:
                    batches += s.value
                elif math.isfinite(s.value):  # a PSI
                    feature = f"{s.labels.get('input', '')}[{s.labels.get('feature', '')}]"
                    key = SeriesKey(replica.deployment, replica.version, "drift_psi", feature)
                    psi[key] = max(psi.get(key, s.value), s.value)
            ident = (replica.id, replica.pid)
            counters[ident] = (rows, batches)
            before = self._batches.get(ident)
            if before is not None and batches >= before[1]:
                key = SeriesKey(replica.deployment, replica.version, "batch_size")
                total = batch.get(key, (0.0, 0.0))
                batch[key] = (total[0] + rows - before[0], total[1] + batches - before[1])
        self._batches = counters
        values: Values = {k: rows / n if n > 0 else None for k, (rows, n) in batch.items()}
        values.update(psi)
        return values

    def _mark_rollouts(self, rollouts: object) -> None:
        """Mark each rollout decision that changed a step or a phase, once."""
        for rollout in rollouts if isinstance(rollouts, list) else ():
            if not isinstance(rollout, Mapping):
                continue
            deployment, rid = str(rollout.get("deployment")), str(rollout.get("id"))
            last_id, last_time = self._decisions.get(deployment, ("", 0.0))
            # A rollout's decisions after the newest one marked; a new rollout's since start.
            floor = last_time if rid == last_id else self._started.timestamp()
            newest = floor
            decisions = rollout.get("decisions")
            for decision in decisions if isinstance(decisions, list) else ():
                if not isinstance(decision, Mapping):
                    continue
                when = decision.get("time")
                if (
                    isinstance(when, int | float)
                    and when > floor
                    and decision.get("event") in MARKED_DECISIONS
                ):
                    self.history.mark(
                        {
                            "time": float(when),
                            "deployment": deployment,
                            "kind": "rollout",
                            "text": _decision_text(decision),
                        }
                    )
                    newest = max(newest, when)
            self._decisions[deployment] = (rid, newest)


def _samples(text: str) -> Iterator[Sample]:
    """The batch-size sum and count and the PSI samples of an exposition. Only their lines are
    parsed: a replica exposes some 200 lines, and parsing all of them every interval would cost
    milliseconds of the gateway's event loop per replica."""
    wanted = "\n".join(line for line in text.splitlines() if line.startswith(_SAMPLED))
    for family in text_string_to_metric_families(wanted):
        yield from family.samples


def _traffic(delta: GatewayReading, d: DeploymentRoute, version: str, seconds: float) -> Values:
    if version == d.shadow:
        shadow = delta.shadow(d.name, version)
        sent = sum(n for outcome, n in shadow.outcomes.items() if outcome != "dropped")
        failed = sum(shadow.outcomes.get(o, 0) for o in SHADOW_ERRORS)
        return {
            SeriesKey(d.name, version, "rps"): sent / seconds,
            SeriesKey(d.name, version, "error_rate"): failed / sent if sent else None,
            SeriesKey(d.name, version, "divergence_share"): (
                shadow.label_differing / shadow.label_elements if shadow.label_elements else None
            ),
            SeriesKey(d.name, version, "divergence_mad"): (
                shadow.score_mad_sum / shadow.score_comparisons
                if shadow.score_comparisons
                else None
            ),
        }
    traffic = delta.version(d.name, version)
    p99 = traffic.quantile(0.99)
    return {
        SeriesKey(d.name, version, "rps"): traffic.requests / seconds,
        SeriesKey(d.name, version, "error_rate"): (
            traffic.count(SERVER_ERRORS) / traffic.requests if traffic.requests else None
        ),
        SeriesKey(d.name, version, "p99_ms"): p99 * 1000 if p99 is not None else None,
    }


def _cost(cost: object) -> Values:
    """Per version, cost per 1,000 predictions and the idle share of its replica time, from
    the status document's ``"cost"`` section (None: no prices, so nothing)."""
    values: Values = {}
    rows = cost.get("versions") if isinstance(cost, Mapping) else None
    for row in rows if isinstance(rows, list) else ():
        if not isinstance(row, Mapping):
            continue
        deployment, version = row.get("deployment"), row.get("version")
        if not (isinstance(deployment, str) and isinstance(version, str)):
            continue
        metrics: tuple[tuple[Metric, str], ...] = (
            ("cost_per_1k", "per_1k_predictions"),
            ("idle_share", "idle_share"),
        )
        for metric, field in metrics:
            value = row.get(field)
            if isinstance(value, int | float):
                values[SeriesKey(deployment, version, metric)] = float(value)
    return values


def _decision_text(decision: Mapping[str, object]) -> str:
    event, weight = decision.get("event"), decision.get("candidate_weight")
    stable, candidate = decision.get("stable"), decision.get("candidate")
    reason = decision.get("reason")
    text = {
        "start": f"{decision.get('strategy')} {stable} → {candidate} started at {weight}%",
        "advance": f"step {decision.get('stage')}: {candidate} at {weight}%",
        "promote": f"{candidate} promoted",
        "rollback": f"rolled back to {stable}",
        "abort": f"aborted, back to {stable}",
    }.get(str(event), f"rollout {event}")
    return f"{text}: {reason}" if isinstance(reason, str) and reason else text


def _moved(e: HistoryEvent) -> bool:
    """Whether ``e`` points a tag somewhere: any ``tag``; a push or rm of a tag that existed."""
    return e.action == "tag" or (e.old is not None and e.old != e.new)


def _short(digest: str) -> str:
    return digest[:19]
