"""Model-server replicas as local processes: the :class:`~.supervisor.Supervisor` that keeps the
desired count running, one :class:`~.replica.ReplicaProcess`, how it is launched
(:mod:`.launch`), restart :mod:`.backoff`, how its end is told (:mod:`.exits`), and the
:class:`~.topology.Topology` — the routing table of ready replicas that the gateway, rollout and
autoscaler read.
"""
