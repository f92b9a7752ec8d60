"""The dashboard's charts: the last hour of every deployment's traffic and the lineage panel.

:class:`Charts` samples what the gateway sees at the start of each history slot (wall clock):
its routing snapshot, its counters, every ready replica's ``/metrics`` and the status document,
turned into one sample per series by :class:`~.sampling.Sampler` and kept in a
:class:`~.history.History` (``/api/history``). With the store's history of tags
(:attr:`Charts.model_history`, set by ``inferd up``), it also marks tag moves on the charts and
serves the lineage of the names deployments serve (``/api/lineage``, :mod:`.lineage`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from inferd.control.gateway.history import History, HistoryOptions
from inferd.control.gateway.lineage import ModelHistory, build_lineage, model_names, tag_moves
from inferd.control.gateway.readings import GatewayReading
from inferd.control.gateway.sampling import Sampler
from inferd.control.replicas.topology import Replica, Topology
from inferd.control.tasks import cancel_and_wait
from inferd.protocols.http import Request, Response, Router, json_response

log = logging.getLogger(__name__)


class Charts:
    """Samples the gateway's view every history interval and serves the charts' data.

    ``topology``, ``reading``, ``replica_metrics`` and ``status`` read the gateway's current
    routing snapshot, counters, replicas' ``/metrics`` texts and status document."""

    def __init__(
        self,
        options: HistoryOptions | None,
        topology: Callable[[], Topology],
        reading: Callable[[], GatewayReading],
        replica_metrics: Callable[[], Awaitable[list[tuple[Replica, str]]]],
        status: Callable[[], Mapping[str, object]],
    ) -> None:
        #: The last hour of every deployment's traffic.
        self.history = History(options)
        #: The store's history of a model name's tags (``inferd up`` sets it): the lineage
        #: panel, and alias moves marked on the charts. None: neither.
        self.model_history: ModelHistory | None = None
        self._topology = topology
        self._reading = reading
        self._replica_metrics = replica_metrics
        self._status = status
        self._sampler = Sampler(self.history, time.time())
        self._task: asyncio.Task[None] | None = None

    def add_routes(self, router: Router) -> None:
        router.add("GET", "/api/history", self._history)
        router.add("GET", "/api/lineage", self._lineage)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._sample_every_interval(), name="gateway-history"
        )

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _history(self, request: Request) -> Response:
        return json_response(self.history.document())

    async def _lineage(self, request: Request) -> Response:
        topology, history = self._topology(), self.model_history
        return json_response(await asyncio.to_thread(build_lineage, topology, history))

    async def _sample_every_interval(self) -> None:
        """Sample at the start of each history slot (wall clock) until cancelled."""
        interval = self.history.options.interval_s
        while True:
            await asyncio.sleep(interval - time.time() % interval)
            try:
                await self._sample()
            except Exception:  # a bug must not end the charts, nor the gateway
                log.exception("sampling the dashboard's history failed")

    async def _sample(self) -> None:
        texts = await self._replica_metrics()
        topology = self._topology()
        self._sampler.sample(time.time(), topology, self._reading(), texts, self._status())
        if self.model_history is not None:
            names = {n for ns in model_names(topology).values() for n in ns}
            moves = await asyncio.to_thread(tag_moves, self.model_history, names)
            self._sampler.mark_moves(topology, moves)
