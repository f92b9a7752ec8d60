"""The supervisor: runs replica processes and publishes what the gateway may route to.

It holds two things and nothing else: the live :class:`~.replica.ReplicaProcess`
objects, and the routing the reconciler last decided (which replicas serve which version, with
what weight). Whenever either changes — a replica became ready, crashed, restarted; new weights —
it builds an immutable :class:`~.topology.Topology` and hands it to every listener
(the gateway, the dashboard). Decisions about *what* should run belong to the reconciler.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from inferd.control.replicas.backoff import BackoffPolicy
from inferd.control.replicas.launch import ReplicaLaunch
from inferd.control.replicas.logs import remove_log
from inferd.control.replicas.replica import (
    DEFAULT_STARTUP_TIMEOUT_S,
    MAX_LOADING_S,
    ReplicaProcess,
)
from inferd.control.replicas.series import ReplicaSeries
from inferd.control.replicas.topology import (
    DeploymentRoute,
    Replica,
    Topology,
    TopologyListener,
    VersionRoute,
)
from inferd.errors import Unavailable

log = logging.getLogger(__name__)

#: A new replica that has failed this many times before ever being ready will not make it
#: (a model that cannot load): an apply gives up on it instead of waiting out its timeout.
GIVE_UP_AFTER_RESTARTS = 2
#: How long a retired replica is kept for :meth:`Supervisor.gone` (cost samples every 5 s).
GONE_KEEP_S = 120.0
#: Per version, how many replicas retired while ``inferd up`` runs keep their log files (the
#: older ones are deleted: a replica's name is never reused in a run, so an autoscaler scaling
#: up and down would leave a file per replica it ever started).
RETIRED_LOGS_KEPT = 5


class Supervisor:
    """Starts, watches and stops replicas; publishes a topology on every change."""

    def __init__(
        self,
        *,
        policy: BackoffPolicy | None = None,
        startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S,
        retired_logs_kept: int = RETIRED_LOGS_KEPT,
    ) -> None:
        self._policy = policy or BackoffPolicy()
        self._retired_logs_kept = retired_logs_kept
        #: Per version, the log files of the replicas retired lately, oldest first.
        self._retired_logs: defaultdict[tuple[str, str], deque[Path]] = defaultdict(deque)
        self._startup_timeout_s = startup_timeout_s
        self._replicas: dict[str, ReplicaProcess] = {}
        #: The replicas retired lately, as they were when they stopped (:meth:`gone`).
        self._gone: dict[str, Replica] = {}
        self._routing: tuple[DeploymentRoute, ...] = ()
        self._listeners: list[TopologyListener] = []
        self._counters: defaultdict[tuple[str, str], itertools.count[int]] = defaultdict(
            lambda: itertools.count(1)
        )
        self._generation = 0
        self._topology = Topology()
        #: Its replicas as series, for the gateway's ``/metrics``.
        self.series = ReplicaSeries()

    @property
    def topology(self) -> Topology:
        """The snapshot last published."""
        return self._topology

    @property
    def backoff(self) -> BackoffPolicy:
        """How long a replica that failed waits before it starts again (the autoscaler waits
        as long before it starts another after a start failed)."""
        return self._policy

    @property
    def routing(self) -> tuple[DeploymentRoute, ...]:
        """The routing the reconciler last decided (replica states as they were then)."""
        return self._routing

    def replicas(self) -> list[ReplicaProcess]:
        """Every replica this supervisor runs, routed or not (starting, retiring)."""
        return list(self._replicas.values())

    def subscribe(self, listener: TopologyListener) -> None:
        """Call ``listener`` with every new topology (and now with the current one)."""
        self._listeners.append(listener)
        listener(self._topology)

    def spawn(self, launch: ReplicaLaunch, count: int) -> list[ReplicaProcess]:
        """Start ``count`` more replicas of a version; they are routed only by :meth:`route`."""
        started = []
        for _ in range(count):
            n = next(self._counters[(launch.deployment, launch.version)])
            replica = ReplicaProcess(
                f"{launch.deployment}-{launch.version}-{n}",
                launch,
                self._publish,
                policy=self._policy,
                startup_timeout_s=self._startup_timeout_s,
            )
            self._replicas[replica.id] = replica
            replica.start()
            started.append(replica)
        return started

    async def wait_ready(self, replicas: Iterable[ReplicaProcess], timeout_s: float) -> None:
        """Wait until every replica has been ready once; Unavailable naming the laggards if not.

        A replica whose server refused to start, saying why (a model that cannot load:
        :attr:`~.replica.ReplicaProcess.start_error`), is given up on at once, with that
        reason; one that keeps failing otherwise after :data:`GIVE_UP_AFTER_RESTARTS` failures,
        rather than waiting out the whole timeout. ``timeout_s`` bounds the time a replica goes
        without answering its probe: one that answers (503 while its model loads) is waited for
        up to :data:`~.replica.MAX_LOADING_S`, as the replica itself waits for it.
        """
        pending = list(replicas)
        began = time.monotonic()

        async def one(replica: ReplicaProcess) -> None:
            ready = asyncio.ensure_future(replica.wait_ready())
            try:
                while not ready.done():
                    await asyncio.wait([ready], timeout=0.2)
                    if ready.done():
                        break
                    if replica.start_error is not None:
                        raise Unavailable(
                            f"replica {replica.id} cannot start {replica.launch.pinned}: "
                            f"{replica.start_error}"
                        )
                    if replica.restarts >= GIVE_UP_AFTER_RESTARTS:
                        raise Unavailable(f"replica {replica.id} keeps failing: {replica.reason}")
                    if time.monotonic() - max(began, replica.heard_at) > timeout_s:
                        raise TimeoutError
            finally:
                ready.cancel()

        waits = [asyncio.ensure_future(one(r)) for r in pending]
        try:
            async with asyncio.timeout(MAX_LOADING_S + timeout_s):
                await asyncio.gather(*waits)
        except TimeoutError:
            late = ", ".join(r.id for r in pending if r.state != "ready")
            waited = time.monotonic() - began
            raise Unavailable(f"replicas not ready after {waited:.0f} s: {late}") from None
        finally:
            for wait in waits:  # the others, when one gave up
                wait.cancel()

    def route(self, routing: Iterable[DeploymentRoute]) -> None:
        """Make ``routing`` the routing table and publish it. Its replicas say which processes
        serve each version (by id); each is published in its current state, and one this
        supervisor no longer runs is left out."""
        self._routing = tuple(routing)
        self._publish()

    async def retire(
        self, replicas: Iterable[ReplicaProcess], grace_s: float, *, keep_logs: bool = False
    ) -> None:
        """Drain and stop ``replicas`` (they should already be out of the routing); their log
        files count towards :data:`RETIRED_LOGS_KEPT` unless ``keep_logs``."""
        doomed = list(replicas)
        await asyncio.gather(*(r.stop(grace_s) for r in doomed))
        if not keep_logs:
            self._forget_logs(doomed)
        now = time.time()
        for gone in [k for k, r in self._gone.items() if (r.exited_at or 0) < now - GONE_KEEP_S]:
            del self._gone[gone]
        for replica in doomed:
            self._replicas.pop(replica.id, None)
            self._gone[replica.id] = replica.snapshot()
        self._publish()

    def gone(self) -> list[Replica]:
        """The replicas retired in the last :data:`GONE_KEEP_S` seconds or so, stopped, with
        the time their process exited: cost charges them up to it."""
        return list(self._gone.values())

    async def shutdown(self, grace_s: float) -> None:
        """Take every version out of rotation, then drain and stop every replica."""
        self.route(())
        await self.retire(self.replicas(), grace_s, keep_logs=True)  # read after a stop

    def _forget_logs(self, retired: list[ReplicaProcess]) -> None:
        """Delete the log files of the replicas retired before the last few of each version."""
        for replica in retired:
            kept = self._retired_logs[(replica.launch.deployment, replica.launch.version)]
            kept.append(replica.log_path)
            while len(kept) > self._retired_logs_kept:
                try:
                    remove_log(kept.popleft())
                except OSError as exc:  # a log that cannot go must not fail an apply
                    log.warning("cannot delete an old replica log: %s", exc)

    def _publish(self) -> None:
        self.series.observe(
            (r.snapshot() for r in self._replicas.values()),
            ((d.name, v.name) for d in self._routing for v in d.versions),
        )
        deployments = {d.name: self._deployment_route(d) for d in self._routing}
        if deployments == dict(self._topology.deployments):
            return
        self._generation += 1
        self._topology = Topology(deployments, self._generation)
        for listener in self._listeners:
            try:
                listener(self._topology)
            except Exception:  # one broken listener must not stop the others or the supervisor
                log.exception("topology listener failed")

    def _deployment_route(self, route: DeploymentRoute) -> DeploymentRoute:
        return replace(route, versions=tuple(self._version_route(v) for v in route.versions))

    def _version_route(self, route: VersionRoute) -> VersionRoute:
        return replace(route, replicas=self._current(route.replicas))

    def _current(self, replicas: tuple[Replica, ...]) -> tuple[Replica, ...]:
        live = (self._replicas.get(r.id) for r in replicas)
        return tuple(process.snapshot() for process in live if process is not None)
