"""Which replica of a version gets the next request: least outstanding requests, with passive
ejection of a replica whose connection just failed.

The REST proxy (:mod:`.proxy`) and the gRPC proxy (:mod:`.grpc_upstream`) each have a
:class:`Balancer` and share one count of outstanding requests, so a replica busy with REST
requests is as busy for gRPC calls; ejection stays per protocol (a replica's gRPC port can fail
while its REST port answers).
"""

from __future__ import annotations

import random
import time
from collections.abc import Set

from inferd.control.gateway.routing import pick_replica
from inferd.control.replicas.topology import Replica, Topology

#: How long a replica whose connection failed is avoided (while it has ready siblings).
EJECT_S = 2.0


class Balancer:
    """Least-outstanding-requests choice among replicas, avoiding recently failed ones."""

    def __init__(self, outstanding: dict[str, int] | None = None) -> None:
        #: Requests sent and not yet answered, per replica id (absent: none).
        self.outstanding: dict[str, int] = {} if outstanding is None else outstanding
        self._ejected: dict[str, float] = {}
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
        self._ejected[replica_id] = time.monotonic() + EJECT_S

    def retain(self, topology: Topology) -> None:
        """Forget ejections of replicas no longer in ``topology``."""
        known = {r.id for r in topology.replicas()}
        for rid in [r for r in self._ejected if r not in known]:
            del self._ejected[rid]
