"""The replicas of ``inferd up`` as series on the gateway's ``/metrics`` (docs/metrics.md).

The gateway scrapes only ready replicas, so a replica whose model cannot load, or that crashes
before it is ready, never shows in their series: ``inferd_model_load_failures_total`` stays
silent under ``inferd up`` for exactly the version that is broken. These series come from the
supervisor's own view instead, at every change of a replica's state:

* ``inferd_replicas{deployment, version, state}``: replicas per state now, routed or not (every
  state of every routed version, 0 included, so ``== 0`` can be alerted on);
* ``inferd_replica_failures_total{deployment, version}``: times a replica process of the
  version exited unasked (a failed start, a scale from zero included, or a crash; each restart
  that fails again counts).

Label values are deployment and version names from the specs applied since ``inferd up``
started, so they are bounded by what the operator deployed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import get_args

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from inferd.control.replicas.topology import Replica, ReplicaState

#: (deployment, version).
_Version = tuple[str, str]
_STATES: tuple[ReplicaState, ...] = get_args(ReplicaState)


class ReplicaSeries(Collector):
    """Counts from the supervisor's replicas at each change (:meth:`observe`)."""

    def __init__(self) -> None:
        self._last: dict[str, ReplicaState] = {}
        self._states: dict[_Version, dict[ReplicaState, int]] = {}
        self._failures: dict[_Version, int] = {}

    def observe(self, replicas: Iterable[Replica], routed: Iterable[_Version]) -> None:
        """Every replica now (routed or not), and the versions routed."""
        states = {key: dict.fromkeys(_STATES, 0) for key in routed}
        last: dict[str, ReplicaState] = {}
        for replica in replicas:
            key = (replica.deployment, replica.version)
            states.setdefault(key, dict.fromkeys(_STATES, 0))[replica.state] += 1
            last[replica.id] = replica.state
            if replica.state == "failed" and self._last.get(replica.id) != "failed":
                self._failures[key] = self._failures.get(key, 0) + 1
        self._last, self._states = last, states

    def collect(self) -> Iterator[Metric]:
        replicas = GaugeMetricFamily(
            "inferd_replicas",
            "Replica processes of each version, by state (starting, ready, draining, failed, "
            "stopped).",
            labels=("deployment", "version", "state"),
        )
        for (deployment, version), counts in self._states.items():
            for state, count in counts.items():
                replicas.add_metric((deployment, version, state), count)
        yield replicas
        failures = CounterMetricFamily(
            "inferd_replica_failures",
            "Times a replica process exited unasked: a failed start (a model that cannot "
            "load) or a crash.",
            labels=("deployment", "version"),
        )
        for (deployment, version), count in self._failures.items():
            failures.add_metric((deployment, version), count)
        yield failures
