"""The gateway: one entry port in front of every deployment's replicas.

It speaks what the model server speaks (OIP v2 REST with the binary tensor extension, health,
metadata, KServe v1; the repository index and statistics by deployment, :mod:`.catalog`; gRPC
on a port of its own, :mod:`.grpc_gateway`), routes each request to a version
(:mod:`.routing`; held through a cold start, :mod:`.selection`), forwards it to the least busy
ready replica of that version (:mod:`.proxy`; the path as the replica knows it,
:mod:`.forwarding`), mirrors it to the shadow version (:mod:`.shadow`), and serves
``/metrics`` (its own series and the replicas', merged), the dashboard at ``/`` and its data at
``/api/status``, ``/api/history`` and ``/api/lineage`` (the last hour, sampled every interval,
and the lineage panel: :mod:`.charts`).

Routing state is one immutable :class:`~inferd.control.replicas.topology.Topology` snapshot:
each request reads the current one once, and :meth:`Gateway.update` swaps it in one assignment
on the event loop, so a request never sees half of an update.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from inferd import __version__
from inferd.config import LimitSettings
from inferd.control.gateway.aggregate import ReplicaReading, merge, read_replica, scrape
from inferd.control.gateway.catalog import Catalog
from inferd.control.gateway.charts import Charts
from inferd.control.gateway.forwarding import (
    answered_here,
    named,
    refusing,
    to_client,
    upstream_path,
)
from inferd.control.gateway.history import HistoryOptions
from inferd.control.gateway.metrics import UNKNOWN, GatewayMetrics
from inferd.control.gateway.openai_relay import PATHS as OPENAI_PATHS
from inferd.control.gateway.openai_relay import OpenAIRelay
from inferd.control.gateway.payloads import PayloadLog
from inferd.control.gateway.proxy import Proxy
from inferd.control.gateway.routing import is_ready
from inferd.control.gateway.selection import Selection
from inferd.control.gateway.shadow import Mirror
from inferd.control.gateway.status import GatewayStatus, build_status
from inferd.control.gateway.tracing import traced
from inferd.control.gateway.traffic import Window
from inferd.control.gateway.upstream import UpstreamRequest, UpstreamResponse, forwardable
from inferd.control.replicas.topology import Replica, Topology
from inferd.errors import Code, InferdError, Unavailable, Unsupported
from inferd.observe.dashboard import ASSETS, asset
from inferd.protocols.access.frontdoor import FrontDoor
from inferd.protocols.http import HttpServer, Request, Response, Router, json_response
from inferd.protocols.http.access_log import AccessFormat, AccessLog, http_server
from inferd.protocols.http.host import HttpLimits
from inferd.protocols.http.messages import STATUS_BY_CODE, response_for_error
from inferd.protocols.http.router import Handler
from inferd.protocols.openai.errors import openai_errors
from inferd.protocols.openai.routes import health

if TYPE_CHECKING:
    from inferd.control.autoscale.coldstart import ColdStart
    from inferd.observe.tracing import Tracing

#: Extensions the gateway itself speaks (of the repository extension, only the index:
#: :mod:`.catalog`).
EXTENSIONS = ("binary_tensor_data", "statistics", "kserve_v1")
_TEXT = b"text/plain; version=0.0.4; charset=utf-8"


class Gateway:
    """Serves the data plane of every deployment in the current topology, plus dashboard and
    metrics. Construct anywhere; :meth:`start` and everything after run on the event loop."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        limits: LimitSettings,
        shadow_timeout_s: float = 2.0,
        request_timeout_s: float = 30.0,
        history: HistoryOptions | None = None,
        payload_dir: Path | None = None,
        tracing: Tracing | None = None,
        access_log: AccessFormat | None = None,
    ) -> None:
        self.host = host
        self._port = port
        self.limits = limits
        self.metrics = GatewayMetrics()
        self.proxy = Proxy(self.metrics, request_timeout_s, tracing)
        self.openai = OpenAIRelay(self, request_timeout_s)
        self.mirror = Mirror(
            self.proxy, self.metrics, shadow_timeout_s, on_answer=self._record_window, limits=limits
        )
        self._topology = Topology()
        #: The repository index and statistics, by deployment and version (REST and gRPC).
        #: Which deployment and version answer each request (every protocol's).
        self.selection = Selection(
            lambda: self._topology, self.metrics, self.record, lambda: self.cold_start
        )
        self.catalog = Catalog(lambda: self._topology, self.selection.deployment, self.proxy)
        self._windows: dict[tuple[str, str], Window] = {}
        self._http: HttpServer | None = None
        self._started = time.monotonic()
        #: Holds requests for a deployment with no ready replica while one starts (scale from
        #: zero); None: such requests get 503 at once.
        self.cold_start: ColdStart | None = None
        #: What ``/api/status`` serves: :meth:`status`, or the fuller document ``inferd up``
        #: builds around it (adding its controllers' rollouts and autoscaling).
        self.status_document: Callable[[], Mapping[str, object]] = self.status
        #: The dashboard's charts (the last hour of traffic) and lineage panel.
        self.charts = Charts(
            history,
            lambda: self._topology,
            self.metrics.reading,
            self._replica_metrics,
            lambda: self.status_document(),  # noqa: PLW0108 - `inferd up` replaces it
        )
        #: Deployments' payload logging (file sinks write under ``payload_dir``).
        self.payloads = PayloadLog(self.metrics.registry, payload_dir)
        #: Spans of inference requests (None: off, and the handlers are installed bare).
        self.tracing = tracing
        #: API keys and TLS on the REST port (set before :meth:`start`; default: open, plain).
        self.front_door = FrontDoor()
        #: One line per request, REST and gRPC (``gateway.access_log``); None: off.
        self.access = AccessLog(access_log, traced=tracing is not None) if access_log else None
        #: Set by :meth:`begin_drain`: not ready from then on.
        self.draining = False

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind and serve (``port`` 0 picks a free one; read it back from :attr:`port`).

        Raises :class:`Unavailable` when the address cannot be bound (in use, or not local)."""
        door = self.front_door
        router = door.router(self._router())
        limits = HttpLimits.from_settings(self.limits)
        screen = door.screen(router, bind_host=self.host)
        http = http_server(self.access, router, limits, screen=screen)
        await http.start(self.host, self._port, tls=door.ssl_context())  # Unavailable: taken
        self._http = http
        self._started = time.monotonic()
        self.charts.start()

    @property
    def port(self) -> int:
        assert self._http is not None, "start() first"
        return self._http.port

    def update(self, topology: Topology) -> None:
        """Route by ``topology`` from now on. Requests already routed finish where they went;
        connections to replicas that left the topology close once idle."""
        self._topology = topology
        self.metrics.routing(topology, self.proxy.outstanding)
        self.proxy.retain(topology)
        self.openai.pools.retain(topology)
        self.payloads.update(topology)

    def begin_drain(self) -> None:
        """Readiness turns false (``/v2/health/ready`` 503, gRPC ``ServerReady`` false) while
        everything is still served, so load balancers stop sending before the drain."""
        self.draining = True

    async def stop(self, drain_timeout: float) -> None:
        """:meth:`drain`, then :meth:`close`."""
        await self.drain(drain_timeout)
        await self.close()

    async def drain(self, drain_timeout: float) -> None:
        """Not ready; let in-flight requests finish (up to ``drain_timeout``) while each new
        connection is answered 503 + ``Retry-After`` + ``Connection: close`` (the server's
        :meth:`~inferd.protocols.http.server.HttpServer.drain`), then let go of the replicas.
        The port keeps answering so until :meth:`close`."""
        self.begin_drain()
        await self.charts.stop()
        if self._http is not None:
            await self._http.drain(drain_timeout)
        await self.mirror.stop()
        await self.payloads.stop()
        self.proxy.close()
        self.openai.close()

    async def close(self) -> None:
        """Stop listening: the connections accepted during the drain get their 503 first."""
        if self._http is not None:
            await self._http.close()

    def status(self) -> GatewayStatus:
        """The gateway's status (see :mod:`inferd.control.gateway.status`)."""
        return build_status(
            self._topology,
            self._windows,
            self.mirror.tallies,
            self.proxy.balance,
            time.monotonic() - self._started,
            ready=self.ready(),
        )

    # -- routes -------------------------------------------------------------------------------

    def _router(self) -> Router:
        router = Router()
        router.add("GET", "/v2/health/live", self._live)
        router.add("GET", "/v2/health/ready", self._ready)
        router.add("GET", "/health", health(self.ready))  # vLLM's: the same, with no body
        router.add("GET", "/v2", self._server_metadata)
        for base in ("/v2/models/{model}", "/v2/models/{model}/versions/{version}"):
            router.add("GET", base, self._model_get)
            router.add("GET", f"{base}/ready", self._model_get)
            infer, generate = self._traced(f"{base}/infer"), refusing(self._generate)
            router.add("POST", f"{base}/infer", infer, head=self.selection.infer_head)
            router.add("POST", f"{base}/generate", generate, head=self._generate)
            router.add("POST", f"{base}/generate_stream", generate, head=self._generate)
        # OpenAI's "retrieve model" too: its clients read errors in no other shape, as
        # inferd serve answers them.
        router.add("GET", "/v1/models/{model}", openai_errors(self._model_get))
        router.add("GET", "/v1/models", self.openai.models)
        for path in OPENAI_PATHS:
            router.add("POST", path, self.openai.relay)
        predict, explain = self._traced("/v1/models/{model}:predict"), refusing(self._explain)
        router.add("POST", "/v1/models/{model}:predict", predict, head=self.selection.infer_head)
        router.add("POST", "/v1/models/{model}:explain", explain, head=self._explain)
        self.catalog.add_routes(router)
        router.add("GET", "/metrics", self._metrics)
        router.add("GET", "/api/status", self._status)
        self.charts.add_routes(router)
        for path in ASSETS:
            router.add("GET", path, self._asset)
        return router

    def _traced(self, route: str) -> Handler:
        """Inference at ``route``: in a span when tracing, else the bare handler."""
        if self.tracing is None:
            return self._infer
        return traced(self.tracing, self._infer, "POST", route)

    async def _live(self, request: Request) -> Response:
        return json_response({"live": True})

    async def _ready(self, request: Request) -> Response:
        ready = self.ready()
        return json_response({"ready": ready}, 200 if ready else 503)

    def ready(self) -> bool:
        """The gateway's readiness (``/v2/health/ready``, ``/health``, gRPC ``ServerReady``)."""
        if self.draining:
            return False
        deployments = self._topology.deployments
        cold = self.cold_start
        # A deployment that scales from zero answers even with no replica (its first request
        # waits for one), unless its start failed: only the others need a ready replica.
        serving = {n: d for n, d in deployments.items() if cold is None or cold.needs_replica(n)}
        return bool(deployments) and (not serving or is_ready(serving))

    @property
    def topology(self) -> Topology:
        """The snapshot requests route by now."""
        return self._topology

    async def _server_metadata(self, request: Request) -> Response:
        return json_response(
            {"name": "inferd-gateway", "version": __version__, "extensions": list(EXTENSIONS)}
        )

    async def _status(self, request: Request) -> Response:
        return json_response(self.status_document())

    async def _asset(self, request: Request) -> Response:
        content, media_type = asset(request.path.rstrip("/") or "/")
        return Response(200, content, media_type, [(b"cache-control", b"no-cache")])

    def in_flight(self, deployment: str) -> int:
        """Requests sent to the deployment's replicas and not answered yet."""
        route = self._topology.deployments.get(deployment)
        if route is None:
            return 0
        outstanding = self.proxy.outstanding
        return sum(outstanding.get(r.id, 0) for v in route.versions for r in v.replicas)

    async def replica_readings(self, deployment: str | None = None) -> list[ReplicaReading]:
        """What the ready replicas (of ``deployment``, or all) report now: queue depth and
        input drift; replicas that fail to answer are left out."""
        return [read_replica(r, text) for r, text in await self._replica_metrics(deployment)]

    async def _replica_metrics(self, deployment: str | None = None) -> list[tuple[Replica, str]]:
        """Every ready replica's ``/metrics`` text (replicas that fail to answer are counted
        in ``inferd_gateway_replica_scrape_failures_total`` and left out)."""
        replicas = [(r, self.proxy.pool(r)) for r in self._topology.ready_replicas(deployment)]
        texts = await scrape(replicas)
        if len(texts) < len(replicas):
            self.metrics.scrape_failures.inc(len(replicas) - len(texts))
        return texts

    async def _metrics(self, request: Request) -> Response:
        texts = await self._replica_metrics()
        own = self.metrics.render_process()
        return Response(200, self.metrics.render() + merge(texts, own), _TEXT)

    # -- the data plane -----------------------------------------------------------------------

    def deployment_names(self) -> list[str]:
        """The deployments the gateway routes to now."""
        return list(self._topology.deployments)

    async def _model_get(self, request: Request) -> Response:
        """Metadata and readiness: the named version, else the deployment's main version."""
        asked = request.params.get("version")
        route, version = await self.selection.metadata_target(request.params["model"], asked)
        if version is None:
            raise Unavailable(f"deployment {route.name!r} has no version")
        here = answered_here(request, route.name, version, self.openai.created)
        if here is not None:  # an engine's OpenAI model object, a version not ready
            return here
        upstream = UpstreamRequest(
            "GET", upstream_path(request, version), forwardable(request.headers)
        )
        answer = await self.proxy.send(route.name, version, upstream)
        return to_client(named(answer, route, asked))

    def _explain(self, request: Request) -> NoReturn:
        """KServe v1 explanations, answered as ``inferd serve`` answers them: there are none."""
        name = self.selection.deployment(request.params["model"]).name  # 404 when unknown
        raise Unsupported(
            f"model {name!r} has no explainer: inferd serves predictions "
            f"(POST /v1/models/{name}:predict, /v2/models/{name}/infer), not explanations"
        )

    def _generate(self, request: Request) -> NoReturn:
        """The OIP generate extension, which ``inferd serve`` serves and the gateway does not
        relay: said so, with the routes that do, instead of 405 "method POST not allowed"."""
        name = self.selection.deployment(request.params["model"]).name  # 404 when unknown
        raise Unsupported(
            f"the gateway does not relay the generate extension: send deployment {name!r} "
            "OpenAI's POST /v1/chat/completions or /v1/completions (with stream: true to stream)"
        )

    async def _infer(self, request: Request) -> Response:
        started = time.perf_counter()
        model, requested = request.params["model"], request.params.get("version")
        route, chosen = self.selection.choose_now(model, request.headers, requested, started)
        if chosen is None or chosen.at_zero:
            route, version = await self.selection.held(
                route, chosen, request.headers, requested, started
            )
        else:
            version = chosen
        headers = forwardable(request.headers)
        shadow = route.version(route.shadow) if route.shadow else None
        primary_answer = None
        if shadow is not None and shadow.name != version.name:
            if self.mirror.full:
                self.mirror.drop(route.name, version.name, shadow.name)
            else:
                path = upstream_path(request, shadow)
                copy = UpstreamRequest("POST", path, headers, request.body)
                primary_answer = self.mirror.mirror(route.name, version.name, shadow, copy)
        answer: UpstreamResponse | None = None
        try:
            upstream = UpstreamRequest(
                "POST", upstream_path(request, version), headers, request.body
            )
            answer = await self.proxy.send(route.name, version, upstream)
        except InferdError as exc:
            self.record(route.name, version.name, response_for_error(exc).status, started)
            raise
        except asyncio.CancelledError:  # the client went away: counted as gRPC's cancel is
            self.record(route.name, version.name, STATUS_BY_CODE[Code.CANCELLED], started)
            raise
        finally:
            if primary_answer is not None and not primary_answer.done():
                primary_answer.set_result(answer)
        self.record(route.name, version.name, answer.status, started)
        if route.payload_logging is not None:
            self.payloads.log_http(
                route.name, version.name, request.path, started,
                request=(request.headers, request.body),
                response=(answer.status, answer.headers, answer.body),
            )  # fmt: skip
        return to_client(answer)

    def record(self, deployment: str, version: str, status: int, started: float) -> None:
        """Count one client request (any protocol; ``status`` as HTTP says it) that started at
        ``time.perf_counter()`` value ``started``."""
        seconds = time.perf_counter() - started
        self.metrics.request(deployment, version or UNKNOWN, status, seconds)
        # "" is a request refused before a version was picked (no replica could start): the
        # deployment's own rate and errors count it (build_status), no version's do.
        self._record_window(deployment, version, seconds, status >= 500)

    def _record_window(self, deployment: str, version: str, seconds: float, error: bool) -> None:
        """Recent traffic for status(): client requests, and shadow copies for the shadow."""
        window = self._windows.get((deployment, version))
        if window is None:
            window = self._windows[(deployment, version)] = Window()
        window.record(seconds, error)
