"""Which deployment and version answer a request (:mod:`.routing` decides), holding the request
while a cold start brings that version up when the deployment scales from zero.

REST inference, metadata and readiness, gRPC and OpenAI's routes all choose here, so a request
lands on the same version whichever protocol carries it, and a refusal is counted the same way.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from inferd.control.gateway.metrics import GatewayMetrics
from inferd.control.gateway.routing import choose_version, metadata_version
from inferd.control.replicas.topology import DeploymentRoute, Topology, VersionRoute
from inferd.errors import InferdError, ModelNotFound, Unavailable
from inferd.protocols.http import Request, Response
from inferd.protocols.http.messages import response_for_error
from inferd.protocols.v2.handlers import media_type_refusal

if TYPE_CHECKING:
    from inferd.control.autoscale.coldstart import ColdStart

#: Counts one client request: deployment, version ("" when none was chosen), HTTP status, and
#: its start (``time.perf_counter()``).
Recorder = Callable[[str, str, int, float], None]


class Selection:
    """Chooses for the gateway. ``topology`` and ``cold_start`` are read at each request (the
    gateway swaps its snapshot; ``inferd up`` sets the cold start after construction)."""

    def __init__(
        self,
        topology: Callable[[], Topology],
        metrics: GatewayMetrics,
        record: Recorder,
        cold_start: Callable[[], ColdStart | None],
    ) -> None:
        self._topology = topology
        self._metrics = metrics
        self._record = record
        self._cold_start = cold_start
        self._random = random.Random()  # noqa: S311 - traffic split, not secrets

    def deployment(self, name: str) -> DeploymentRoute:
        """The deployment a request names; an unknown one is counted and raises NotFound.

        Before the first topology is published (``inferd up`` still bringing up its spec) no
        name is known yet, and a 404 would tell clients the model does not exist, which they do
        not retry: that is Unavailable (503 + Retry-After) instead."""
        topology = self._topology()
        route = topology.deployments.get(name)
        if route is None:
            self._metrics.unknown_deployment()
            if topology.generation == 0:
                raise Unavailable(
                    f"the gateway is starting: no deployment is published yet ({name!r} may be "
                    "among those starting)",
                    retry_after=1.0,
                )
            raise ModelNotFound(name)
        return route

    def infer_head(self, request: Request) -> Response | None:
        """What an inference's head alone refuses, before its body is read (its client waits
        for ``100 Continue``): an unknown deployment, or a version it does not have or its
        shadow (ModelNotFound), then a media type the replica would refuse (415), each counted
        as the inference would count it. None: read the body."""
        route = self.deployment(request.params["model"])
        requested = request.params.get("version")
        try:
            if requested is not None:
                metadata_version(route, requested)
            refusal = media_type_refusal(request)
        except InferdError as exc:
            refusal = response_for_error(exc)
        if refusal is not None:
            self._record(route.name, "", refusal.status, time.perf_counter())
        return refusal

    async def metadata_target(
        self, model: str, requested: str | None
    ) -> tuple[DeploymentRoute, VersionRoute | None]:
        """The deployment ``model`` names and the version that answers its metadata and
        readiness: ``requested``, else the main version (:func:`.routing.metadata_version`;
        None: the deployment has no version).

        A version scaled to zero, or a deployment with no version ready, is woken and the
        request held while it cold-starts, as an inference is: clients ask for readiness and
        metadata before their first inference, and Knative's activator holds them the same
        way. Raises ModelNotFound for an unknown version (or the shadow), and Unavailable when
        the cold start fails or takes longer than ``cold_start_timeout``.
        """
        route = self.deployment(model)
        version = metadata_version(route, requested)
        cold = self._cold_start()
        if version is None or cold is None:
            return route, version
        if version.at_zero:
            wait_for: str | None = version.name
        elif not route.primaries:
            wait_for = None  # nothing ready: wait for any version that comes
        else:
            return route, version
        if await cold.hold(route.name, wait_for):
            route = self.deployment(route.name)
            version = metadata_version(route, requested)
        return route, version

    async def choose(
        self, model: str, headers: Mapping[str, str], requested: str | None, started: float
    ) -> tuple[DeploymentRoute, VersionRoute]:
        """The deployment ``model`` names and the version that serves one primary request
        (:mod:`.routing`), after holding it while a replica cold-starts; a refusal is recorded
        (request ``started`` at ``time.perf_counter()``) before it is raised."""
        route, version = self.choose_now(model, headers, requested, started)
        if version is None or version.at_zero:
            return await self.held(route, version, headers, requested, started)
        return route, version

    def choose_now(
        self, model: str, headers: Mapping[str, str], requested: str | None, started: float
    ) -> tuple[DeploymentRoute, VersionRoute | None]:
        """:meth:`choose` without a coroutine, for the hot path. A version
        :attr:`~VersionRoute.at_zero` must be woken, and None means no version is ready
        while a cold start may bring one: then :meth:`held` holds the request."""
        route = self.deployment(model)
        from_zero = self._from_zero(route)
        if from_zero and not route.primaries_from_zero:
            return route, None
        return route, self._pick(route, headers, requested, started, from_zero=from_zero)

    def _from_zero(self, route: DeploymentRoute) -> bool:
        """Whether a request for ``route`` may wait for a cold start: one may be needed (no
        version is ready, or one is scaled to zero, or a header route leads to one at zero) and
        the deployment scales from zero."""
        cold = self._cold_start()
        if cold is None:
            return False
        needed = (
            not route.primaries
            or len(route.primaries_from_zero) > len(route.primaries)
            or route.header_route_at_zero
        )
        return needed and cold.can_hold(route.name)

    async def held(
        self,
        route: DeploymentRoute,
        version: VersionRoute | None,
        headers: Mapping[str, str],
        requested: str | None,
        started: float,
    ) -> tuple[DeploymentRoute, VersionRoute]:
        """:meth:`choose` for a request routed to ``version``, at zero (None: to a
        deployment with no version ready): held until it has a ready replica (or refused), then
        routed to it — or, when nothing was held for, as the topology of that moment says."""
        name = version.name if version is not None else None
        try:
            cold = self._cold_start()
            held = cold is not None and await cold.hold(route.name, name)
        except InferdError as exc:
            # Counted against the version it was routed to (a canary from zero that cannot
            # start): a rollout's analysis reads those; "" only where none was chosen yet.
            self._record(route.name, name or "", response_for_error(exc).status, started)
            raise
        if held:
            route = self.deployment(route.name)
            version = route.version(name) if name is not None else None
        if version is None:
            version = self._pick(route, headers, requested, started)
        return route, version

    def _pick(
        self,
        route: DeploymentRoute,
        headers: Mapping[str, str],
        requested: str | None,
        started: float,
        *,
        from_zero: bool = False,
    ) -> VersionRoute:
        try:
            draw = self._random.random()
            return choose_version(route, headers, draw, requested, from_zero=from_zero)
        except InferdError as exc:
            self._record(route.name, "", response_for_error(exc).status, started)
            raise
