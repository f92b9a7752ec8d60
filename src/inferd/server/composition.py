"""The composition root: :func:`build_server` wires store → manager → data plane → listeners.

Nothing happens at import time. ``build_server`` only constructs objects; :meth:`Server.start`
binds the listeners (first, so liveness answers during slow loads) and then loads the models;
:meth:`Server.run_until_signal` serves until SIGTERM/SIGINT and then shuts down gracefully:
readiness false at once, served as usual for ``drain_delay_s``, then in-flight work drained
(bounded by ``drain_timeout_s``; language models' streams still running then end with an error
event) while new connections get 503, models unloaded, listeners closed. A signal while the
models still load (:meth:`Server.start_unless`) abandons the loads and shuts down the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import secrets
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from inferd.config import ServerSettings
from inferd.errors import InferdError
from inferd.observe.audit import AuditLog
from inferd.observe.gpu import GpuCollector
from inferd.observe.metrics import ServerMetrics
from inferd.observe.tracing_setup import start_tracing
from inferd.protocols.access.frontdoor import FrontDoor
from inferd.protocols.http import HttpServer
from inferd.protocols.http.access_log import AccessLog, http_server
from inferd.protocols.http.audited import audited_guard
from inferd.protocols.http.host import HttpLimits
from inferd.protocols.v2.auth import bearer_guard, is_loopback, write_token
from inferd.protocols.v2.routes import control_router, data_router
from inferd.runtimes.base import LoadOptions
from inferd.runtimes.registry import get_runtime
from inferd.runtimes.warmup import warmup_inputs
from inferd.serving.dataplane import ServingDataPlane
from inferd.serving.manager import ModelManager
from inferd.serving.source import Loaders, StoreSource
from inferd.serving.trust import CodeTrust, history_recorder
from inferd.store import ModelStore
from inferd.store.remote import RegistrySettings, registries_of

if TYPE_CHECKING:
    from inferd.observe.tracing import Tracing


log = logging.getLogger(__name__)

#: Seconds after the drain timeout for the streams it stopped to send their ending.
STREAM_END_S = 1.0


class Stoppable(Protocol):
    """What a listener handle offers (the gRPC handle does)."""

    async def stop(self, grace: float) -> None: ...


@dataclass
class Server:
    """One model-server process: a data plane and the listeners in front of it."""

    settings: ServerSettings
    references: list[str]
    manager: ModelManager
    dataplane: ServingDataPlane
    metrics: ServerMetrics
    #: Listen on the data port with SO_REUSEPORT (``--workers N`` shares one port).
    reuse_port: bool = False
    #: Serve the control plane (off in multi-worker mode: a change would reach only one worker).
    control: bool = True
    rest: HttpServer | None = None
    control_rest: HttpServer | None = None
    grpc_handles: list[Stoppable] = field(default_factory=list)
    token_path: Path | None = None
    grpc_port: int | None = None
    control_grpc_port: int | None = None
    #: Where models come from; its registry connections are closed on shutdown.
    store: ModelStore | None = None
    #: References that failed to load at start, with their errors.
    failures: list[tuple[str, InferdError]] = field(default_factory=list)
    #: API keys and TLS of the data plane (REST and gRPC; the control plane has its token).
    front_door: FrontDoor = field(default_factory=FrontDoor)
    #: Spans of v2 inference, exported over OTLP (``settings.tracing``); None: not traced.
    tracing: Tracing | None = None
    #: What ``/metrics`` answers when it is more than this process's own series (every
    #: worker's, :mod:`~inferd.server.worker_metrics`); None: ``metrics.render``.
    scrape: Callable[[], Awaitable[bytes]] | None = None
    #: The data plane's access log (``settings.access_log``); None: off, and nothing logs.
    access: AccessLog | None = None

    @property
    def port(self) -> int:
        assert self.rest is not None, "start() first"
        return self.rest.port

    @property
    def control_port(self) -> int | None:
        return self.control_rest.port if self.control_rest is not None else None

    async def start(self, *, listen_when: Callable[[], Awaitable[None]] | None = None) -> None:
        """Bind every listener, then load the models (readiness turns true once they are warm).

        With ``listen_when``, the models load first and the listeners bind once they are warm
        and ``listen_when()`` has returned: a worker that joins a shared port (``--workers``)
        must not take connections it can only answer 503. When references were given and none
        of them loads, everything is closed again and the first failure is raised, unless
        ``settings.allow_empty``.
        """
        self.manager.expect(self.references)  # not ready from the first connection on
        if listen_when is None:
            await self._listen()
            await self._load()
        else:
            await self._load()
            await listen_when()
            await self._listen()

    async def _listen(self) -> None:
        s = self.settings
        limits = HttpLimits.from_settings(s.limits)
        door = self.front_door
        routes = data_router(
            self.dataplane, s.limits, self.metrics.render, self.tracing, s.generation_timeout_for,
            scrape=self.scrape,
        )  # fmt: skip
        router = door.router(routes)
        screen = door.screen(router, bind_host=s.host)
        self.rest = http_server(self.access, router, limits, screen=screen)
        await self.rest.start(s.host, s.port, reuse_port=self.reuse_port, tls=door.ssl_context())
        token = None
        if self.control and s.control_port is not None:
            token = s.control_token or secrets.token_urlsafe(32)
            audit = AuditLog.in_home(s.store.root, "server")
            guard = audited_guard(audit, bearer_guard(token, s.control_host))
            router = control_router(self.dataplane, audit)
            self.control_rest = HttpServer(router, limits, guard)
            await self.control_rest.start(s.control_host, s.control_port)
            self.token_path = write_token(s.store.root, self.control_rest.port, token)
            if not is_loopback(s.control_host):
                log.warning(
                    "THE CONTROL PLANE LISTENS BEYOND LOOPBACK on %s:%d: anyone who can reach it "
                    "and holds the token can load and unload models, and the Host check "
                    "against DNS rebinding is off; bind it to 127.0.0.1 unless a firewall "
                    "stands in front",
                    s.control_host,
                    self.control_rest.port,
                )
        await self._start_grpc(token)

    async def _load(self) -> None:
        s = self.settings
        # What exists now (modules, settings, listeners) lives as long as the process; frozen,
        # a full collection walks only what serving allocates. Unfrozen, thousands of slow
        # connections trigger full passes that stall the loop ~100 ms (bench/slowloris.py).
        # Models load after this, so an unloaded model's memory stays collectable. `inferd serve`
        # starts with the collector off (serve_cmds): from here on it runs.
        gc.collect()
        gc.freeze()
        gc.enable()
        self.failures = await self.manager.serve(self.references)
        if self.references and len(self.failures) == len(self.references) and not s.allow_empty:
            await self._give_up()
        self._warn_of_unmatched_model_settings()

    def _warn_of_unmatched_model_settings(self) -> None:
        """Say so when ``models`` holds settings for a name no model served has: most often a
        name with '-', which an environment variable cannot spell (``INFERD_MODELS__PY_SLOW__…``
        names ``py_slow``), so the settings would silently apply to nothing."""
        served = {e.name for e in self.dataplane.repository_index()}
        for name in sorted(set(self.settings.models) - served):
            alike = [n for n in served if n.replace("-", "_").lower() == name.lower()]
            hint = (
                f"; {alike[0]!r} is served: a name with '-' cannot be spelt in an environment "
                "variable, set it under 'models' in a --config file"
                if alike
                else ""
            )
            log.warning(
                "settings for model %r (models.%s) match no model this server serves (%s)%s",
                name,
                name,
                ", ".join(sorted(served)) or "none",
                hint,
            )

    async def _give_up(self) -> None:
        """Nothing loaded: say why, close what ``start`` opened, raise the first failure."""
        for reference, error in self.failures:
            log.error("cannot serve %s: %s", reference, error.message)
        log.error(
            "nothing to serve: no reference loaded (--allow-empty keeps the server up for "
            "control-plane loads)"
        )
        await self.shutdown()
        raise self.failures[0][1]

    async def _start_grpc(self, token: str | None) -> None:
        s = self.settings
        if s.grpc_port is None and (token is None or s.control_grpc_port is None):
            return
        # Deferred: grpc, protobuf and the generated messages (~14 MB, ~45 ms) load only in a
        # process that binds a gRPC port (issue 18).
        from inferd.protocols.grpc.server import serve_grpc

        if s.grpc_port is not None:
            door = self.front_door
            assert self.rest is not None, "gRPC starts after REST"
            # Inflated gRPC messages draw on the REST bodies' budget: the setting bounds the
            # process (``limits.max_buffered_request_bytes``), not each listener.
            handle = await serve_grpc(
                self.dataplane, s.host, s.grpc_port, s.limits, reuse_port=self.reuse_port,
                credentials=door.grpc_credentials(), guard=door.grpc_handlers,
                budget=self.rest.limits.budget, access=self.access,
            )  # fmt: skip
            self.grpc_port = handle.port
            self.grpc_handles.append(handle)
        if token is not None and s.control_grpc_port is not None:
            control = await serve_grpc(
                self.dataplane, s.control_host, s.control_grpc_port, s.limits,
                control=True, token=token, audit=AuditLog.in_home(s.store.root, "server"),
            )  # fmt: skip
            self.control_grpc_port = control.port
            self.grpc_handles.append(control)

    async def shutdown(self) -> None:
        """Graceful stop: not ready, drain, unload models, stop listening.

        The HTTP listeners stay open until the very end: what connects after the drain began
        is answered 503 + ``Retry-After`` rather than refused (or reset in the backlog). gRPC
        stops the way grpc servers do: its listeners close, open channels get GOAWAY and new
        calls UNAVAILABLE, calls in flight have ``drain_timeout_s``.
        """
        grace = self.settings.drain_timeout_s
        self.dataplane.begin_drain()
        listeners = [r for r in (self.rest, self.control_rest) if r is not None]
        # The connections get STREAM_END_S more than the work: a stream the data plane stops
        # at the timeout then sends its error event and ends, rather than being cut.
        drains = [asyncio.create_task(r.drain(grace + STREAM_END_S)) for r in listeners]
        drains += [asyncio.create_task(h.stop(grace)) for h in self.grpc_handles]
        drained = await self.dataplane.drain(grace)
        if not drained:
            log.warning("drain timed out after %.1f s; cancelling what is left", grace)
        await asyncio.gather(*drains)
        await self.dataplane.close(drained)
        if self.store is not None:
            self.store.close()
        if self.token_path is not None:
            self.token_path.unlink(missing_ok=True)
        if self.tracing is not None:
            await asyncio.to_thread(self.tracing.shutdown)  # export what is buffered
        await asyncio.gather(*(r.close() for r in listeners))

    @staticmethod
    def signalled() -> asyncio.Event:
        """An event SIGTERM and SIGINT set from now on (their handlers on the running loop)."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return stop

    async def start_unless(
        self, stop: asyncio.Event, *, listen_when: Callable[[], Awaitable[None]] | None = None
    ) -> bool:
        """:meth:`start`, unless ``stop`` is set first (a signal while the models load): then
        the loads are abandoned, what already serves is drained, the server shuts down and
        False is returned."""
        starting = asyncio.ensure_future(self.start(listen_when=listen_when))
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if starting.done():
            starting.result()  # a start-up failure raises
            return True
        log.info(
            "signal received while loading: abandoning the loads, draining (at most %g s)",
            self.settings.drain_timeout_s,
        )
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError, InferdError):
            await starting
        await self.shutdown()
        return False

    async def run_until_signal(self, stop: asyncio.Event | None = None) -> None:
        """Serve until SIGTERM or SIGINT (``stop`` set: its handlers are already installed);
        then readiness turns false at once, everything is served as usual for
        ``drain_delay_s`` more (load balancers still send while they notice; a second signal
        cuts it short), and the server shuts down gracefully."""
        if stop is None:
            stop = self.signalled()
        await stop.wait()
        self.dataplane.begin_drain()
        s = self.settings
        if s.drain_delay_s > 0:
            log.info(
                "signal received: not ready; serving for %.1f s more (drain_delay_s), then "
                "draining (at most %g s)",
                s.drain_delay_s,
                s.drain_timeout_s,
            )
            stop.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), s.drain_delay_s)
            log.info("draining (at most %g s)", s.drain_timeout_s)
        else:
            log.info("signal received: draining (at most %g s)", s.drain_timeout_s)
        await self.shutdown()


def _device(wanted: Literal["cpu", "cuda", "auto"]) -> Literal["cpu", "cuda"]:
    """``auto`` means CUDA when onnxruntime can use it here, else CPU."""
    if wanted != "auto":
        return wanted
    import onnxruntime

    return "cuda" if "CUDAExecutionProvider" in onnxruntime.get_available_providers() else "cpu"


def build_server(
    settings: ServerSettings,
    references: list[str],
    *,
    reuse_port: bool = False,
    control: bool = True,
) -> Server:
    """Construct a server for ``references`` (nothing is bound or loaded until ``start``)."""
    metrics = ServerMetrics()
    GpuCollector().register(metrics.registry)  # DCGM-style GPU series; nothing without NVML
    # Server-side fetches reach only allowlisted registries and those the command line names.
    registries = RegistrySettings.from_environ().server_side(registries_of(references))
    store = ModelStore.from_settings(settings.store, registries)
    loaders = Loaders(
        source=StoreSource(store),
        runtime=get_runtime,
        warmup_inputs=warmup_inputs,
        options=LoadOptions(
            device=_device(settings.device),
            device_auto=settings.device == "auto",
            intra_op_threads=settings.intra_op_threads,
            sandbox=settings.sandbox,
            process_string_elements=settings.limits.process_string_elements,
            max_num_seqs=settings.llm.max_num_seqs,
            max_waiting_seqs=settings.llm.max_waiting_seqs,
            max_model_len=settings.llm.max_model_len,
        ),
        trust=CodeTrust.of(settings.trust_code, history_recorder(store)),
    )
    manager = ModelManager(loaders, settings, metrics)
    # The repository extension is served on the control plane's listeners alone.
    repository = control and settings.control_port is not None
    dataplane = ServingDataPlane(manager, metrics, settings, repository=repository)
    traced = settings.tracing is not None
    access = settings.access_log
    return Server(
        settings, list(references), manager, dataplane, metrics, reuse_port, control, store=store,
        front_door=FrontDoor.from_settings(settings.auth, settings.tls),
        tracing=start_tracing(settings.tracing) if settings.tracing is not None else None,
        access=AccessLog(access, traced=traced) if access is not None else None,
    )  # fmt: skip
