"""Which replica of a version gets the next request: least outstanding requests, avoiding a
replica whose connection just failed (for :data:`EJECT_S`) and one ejected as an outlier after
failures in a row (:mod:`.outliers`, Envoy's outlier detection).

The REST proxy (:mod:`.proxy`) and the gRPC proxy (:mod:`.grpc_upstream`) each have a
:class:`Balancer` and share one count of outstanding requests, so a replica busy with REST
requests is as busy for gRPC calls; ejection stays per protocol (a replica's gRPC port can fail
while its REST port answers).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Set

from inferd.control.gateway.outliers import OutlierPolicy, OutlierState, observe
from inferd.control.gateway.routing import pick_replica
from inferd.control.replicas.topology import Replica, Topology

#: How long a replica whose connection failed is avoided (while it has ready siblings).
EJECT_S = 2.0


class Balancer:
    """Least-outstanding-requests choice among replicas, avoiding recently failed ones."""

    def __init__(
        self, outstanding: dict[str, int] | None = None, policy: OutlierPolicy | None = None
    ) -> None:
        #: Requests sent and not yet answered, per replica id (absent: none).
        self.outstanding: dict[str, int] = {} if outstanding is None else outstanding
        #: When a replica is ejected as an outlier, and for how long.
        self.policy = OutlierPolicy() if policy is None else policy
        #: Avoided until (``time.monotonic()``), per replica id: outliers and failed connections.
        self._ejected: dict[str, float] = {}
        #: Outlier records of replicas with something to remember (a failure, an ejection).
        self._outliers: dict[str, OutlierState] = {}
        self._random = random.Random()  # noqa: S311 - balancing, not secrets

    def choose(self, replicas: tuple[Replica, ...], tried: set[str]) -> Replica | None:
        """A replica not in ``tried`` (ejected ones only when nothing else is left), counted as
        having one more request outstanding until :meth:`done`; None if none is left."""
        avoid: Set[str] = tried
        if self._ejected:  # usually empty: no clock read, no set per request
            now = time.monotonic()
            for rid in [rid for rid, until in self._ejected.items() if until <= now]:
                del self._ejected[rid]
            avoid = tried | self._ejected.keys()
        replica = pick_replica(replicas, self.outstanding, self._random.random(), avoid)
        if replica is not None:
            self.outstanding[replica.id] = self.outstanding.get(replica.id, 0) + 1
        return replica

    def done(self, replica_id: str) -> None:
        left = self.outstanding.get(replica_id, 1) - 1
        if left > 0:
            self.outstanding[replica_id] = left
        else:
            self.outstanding.pop(replica_id, None)

    def eject(self, replica_id: str) -> None:
        """Avoid a replica whose connection just failed for :data:`EJECT_S`."""
        self._avoid(replica_id, time.monotonic() + EJECT_S)

    def report(self, replicas: tuple[Replica, ...], replica_id: str, *, failed: bool) -> bool:
        """Count one outcome of ``replica_id``, one of its version's ready ``replicas``
        (:func:`.outliers.observe`); True when it ejected the replica."""
        state = self._outliers.get(replica_id)
        if state is None:
            if not failed:  # the usual answer: nothing to remember
                return False
            state = self._outliers[replica_id] = OutlierState()
        now = time.monotonic()
        ejected = 0
        for r in replicas:
            other = self._outliers.get(r.id) if r.id != replica_id else None
            ejected += other is not None and other.ejected(now)
        out = observe(state, failed, now, self.policy, ready=len(replicas), ejected=ejected)
        if out:
            self._avoid(replica_id, state.ejected_until)
        elif not failed and state.settled(now, self.policy):
            del self._outliers[replica_id]
        return out

    def ejection(self, replica_id: str) -> str | None:
        """Why ``replica_id`` is ejected as an outlier now, for ``inferd ps`` and the status;
        None when it is not."""
        state = self._outliers.get(replica_id)
        now = time.monotonic()
        if state is None or not state.ejected(now):
            return None
        return (
            f"ejected by the gateway after {self.policy.consecutive_failures} failures in a "
            f"row, ejection {state.ejections}, back in {math.ceil(state.ejected_until - now)} s"
        )

    def _avoid(self, replica_id: str, until: float) -> None:
        self._ejected[replica_id] = max(until, self._ejected.get(replica_id, 0.0))

    def retain(self, topology: Topology) -> None:
        """Forget ejections and outlier records of replicas no longer in ``topology``."""
        known = {r.id for r in topology.replicas()}
        for table in (self._ejected, self._outliers):
            for rid in [r for r in table if r not in known]:
                del table[rid]
