"""``inferd serve`` as processes: one, or ``--workers N`` sharing a port (SO_REUSEPORT), kept
alive by a supervisor that restarts a worker that dies."""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Protocol

import uvloop

from inferd.backoff import restart_delay
from inferd.config import ServerSettings
from inferd.errors import InferdError, InvalidArgument
from inferd.server.banner import startup_lines
from inferd.server.composition import Server, build_server
from inferd.server.logs import configure_logging
from inferd.server.worker_metrics import Fleet, WorkerMetrics, private_run_dir, remove_run_dir

log = logging.getLogger(__name__)


class FirstReady(Protocol):
    """A flag shared by the workers of one port (a ``multiprocessing.Event``)."""

    def set(self) -> None: ...

    def is_set(self) -> bool: ...


async def _serve_one(
    settings: ServerSettings,
    references: list[str],
    *,
    worker: int | None,
    first_ready: FirstReady | None = None,
    ready: FirstReady | None = None,
    fleet: Fleet | None = None,
) -> None:
    """Serve in this process. Worker 0 of several binds the shared port at once (so probes get
    an answer while it loads) and sets ``first_ready`` once its start is over; the others bind
    only when their models are warm and worker 0 is ready, so a connection the kernel hands to
    a worker never meets a 503 for a model still loading there. A worker restarted after
    ``first_ready`` (worker 0 too) joins the way the others do. ``ready`` is set once this
    worker serves. With ``fleet``, its ``/metrics`` answers for every worker of it, and its
    siblings' for it (:mod:`~inferd.server.worker_metrics`)."""
    server = build_server(
        settings, references, reuse_port=worker is not None, control=worker is None
    )
    stop = server.signalled()  # from the start: a signal while loading drains and stops
    if fleet is None or worker is None:
        await _serve_started(server, stop, worker=worker, first_ready=first_ready, ready=ready)
        return
    peers = WorkerMetrics(fleet, worker, server.metrics.render)
    server.scrape = peers.scrape
    await peers.listen()
    try:
        await _serve_started(server, stop, worker=worker, first_ready=first_ready, ready=ready)
    finally:
        await peers.close()


async def _serve_started(
    server: Server,
    stop: asyncio.Event,
    *,
    worker: int | None,
    first_ready: FirstReady | None,
    ready: FirstReady | None,
) -> None:
    if worker is None or (worker == 0 and first_ready is not None and not first_ready.is_set()):
        try:
            started = await server.start_unless(stop)
        finally:
            if first_ready is not None:
                first_ready.set()  # a failed start must not keep the others off the port
    else:
        assert first_ready is not None, "workers after the first wait for it"

        async def after_the_first() -> None:
            while not first_ready.is_set():  # polled: a thread blocked on it would outlive ^C
                await asyncio.sleep(0.05)

        started = await server.start_unless(stop, listen_when=after_the_first)
    if not started:
        return
    if ready is not None:
        ready.set()
    for line in startup_lines(server):
        log.info("%s", line if worker is None else f"[worker {worker}] {line}")
    await server.run_until_signal(stop)


def _worker_main(
    settings_json: str,
    references: list[str],
    worker: int,
    *,
    first_ready: FirstReady,
    exit_status: ExitStatus,
    ready: FirstReady,
    fleet: Fleet | None = None,
) -> None:
    configure_logging()
    settings = ServerSettings.model_validate_json(settings_json)
    try:
        uvloop.run(
            _serve_one(
                settings,
                references,
                worker=worker,
                first_ready=first_ready,
                ready=ready,
                fleet=fleet,
            )
        )
    except InferdError as exc:
        log.error("[worker %d] %s", worker, exc.message)
        raise SystemExit(exit_status(exc)) from None


#: The exit status a failure ends a worker process with (the CLI's table; picklable).
ExitStatus = Callable[[InferdError], int]


def _failed(_: InferdError) -> int:
    return 1


def run(
    settings: ServerSettings,
    references: list[str],
    workers: int = 1,
    exit_status: ExitStatus = _failed,
) -> int:
    """Serve until a signal; returns the exit status.

    With ``workers > 1`` that many processes share the data (and gRPC) port through
    SO_REUSEPORT and the kernel spreads connections among them: worker 0 binds at once, the
    others once their models are warm and worker 0 is ready. The control plane is off then:
    a load or unload would reach only the one worker that accepted it. One worker process
    (``workers == 1``) raises a start-up failure. Of several, a worker that dies once it
    served is restarted (:class:`_Supervisor`); one whose first start fails exits with
    ``exit_status(error)``, the others stop once their own start is over, and the largest
    status is returned. Any worker's ``/metrics`` answers for every worker, each sample
    labelled with its ``worker`` (:mod:`~inferd.server.worker_metrics`).
    """
    if workers <= 1:
        uvloop.run(_serve_one(settings, references, worker=None))
        return 0
    if settings.port == 0:
        raise InvalidArgument("--workers needs a fixed --port (port 0 would give each its own)")
    if settings.grpc_port == 0:
        raise InvalidArgument(
            "--workers needs a fixed --grpc-port, or --no-grpc (port 0 would give each its own)"
        )
    log.warning("%d workers: the control plane is off (restart to change models)", workers)
    gc.enable()  # this process only waits for its workers: no Server.start to turn it back on
    run_dir = private_run_dir()  # the workers' metrics sockets
    fleet = Fleet(run_dir, workers) if run_dir is not None else None
    try:
        supervisor = _Supervisor(settings, references, workers, exit_status, fleet)
        signal.signal(signal.SIGTERM, supervisor.forward)
        signal.signal(signal.SIGINT, supervisor.forward)
        return supervisor.run()
    finally:
        if run_dir is not None:
            remove_run_dir(run_dir)


#: A worker that served this long before it died starts a new run of deaths (no backoff).
STEADY_S = 60.0
#: Deaths in a row after which the workers are given up (each restart waits longer before).
MAX_DEATHS = 8


def _death(code: int | None) -> str:
    """How a worker process ended, for the log."""
    if code is not None and code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


@dataclass
class _Slot:
    """One of the ``--workers``: its current process (None: dead, restarting at ``restart_at``)."""

    index: int
    ready: FirstReady
    proc: BaseProcess | None = None
    started: float = 0.0
    deaths: int = 0
    served: bool = False
    restart_at: float = 0.0


class _Supervisor:
    """Starts the workers and keeps them alive, as gunicorn's arbiter does: a worker that dies
    once it served is logged with its exit status or signal and restarted, at once the first
    time, then with the sandbox's backoff (0.5 s doubling to 30 s) while it keeps dying within
    :data:`STEADY_S` of its start; after :data:`MAX_DEATHS` such deaths in a row the others are
    stopped and the exit status is 1. A signal is forwarded to every worker, and ends the
    restarts. Each worker gets ``fleet`` (None: each ``/metrics`` is its worker's own)."""

    def __init__(
        self,
        settings: ServerSettings,
        references: list[str],
        workers: int,
        exit_status: ExitStatus,
        fleet: Fleet | None = None,
    ) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._args = (settings.model_dump_json(), references)
        self._exit_status = exit_status
        self._fleet = fleet
        self._first_ready = self._context.Event()
        self._slots = [_Slot(i, self._context.Event()) for i in range(workers)]
        self._stopping = False
        self._failed_start = False
        self._status = 0

    def run(self) -> int:
        for slot in self._slots:
            self._start(slot)
        while any(slot.proc is not None for slot in self._slots) or self._pending():
            running = [slot for slot in self._slots if slot.proc is not None]
            wait = self._pending()
            timeout = None if wait is None else max(0.0, wait - time.monotonic())
            multiprocessing.connection.wait([s.proc.sentinel for s in running if s.proc], timeout)
            for slot in running:
                if slot.proc is not None and not slot.proc.is_alive():
                    self._ended(slot)
            starts_over = all(s.proc is None or s.ready.is_set() for s in self._slots)
            if self._failed_start and not self._stopping and starts_over:
                self._stop()  # a first start failed: the ones that started stop too
            now = time.monotonic()
            for slot in self._slots:
                if slot.proc is None and not self._stopping and 0 < slot.restart_at <= now:
                    self._start(slot)
        return self._status

    def forward(self, signum: int, _frame: object) -> None:
        self._stopping = True
        self._signal(signum)

    def _pending(self) -> float | None:
        """When the next restart is due (None: none is, or the workers are stopping)."""
        due = [s.restart_at for s in self._slots if s.proc is None and s.restart_at > 0]
        return None if self._stopping or not due else min(due)

    def _start(self, slot: _Slot) -> None:
        slot.ready = self._context.Event()
        slot.proc = self._context.Process(
            target=_worker_main,
            args=(*self._args, slot.index),
            kwargs={
                "first_ready": self._first_ready,
                "exit_status": self._exit_status,
                "ready": slot.ready,
                "fleet": self._fleet,
            },
        )
        slot.proc.start()
        slot.started, slot.restart_at = time.monotonic(), 0.0
        if self._stopping and slot.proc.pid is not None:  # a signal came while it started
            os.kill(slot.proc.pid, signal.SIGTERM)

    def _ended(self, slot: _Slot) -> None:
        proc = slot.proc
        assert proc is not None
        proc.join()
        slot.proc, code = None, proc.exitcode
        slot.served = slot.served or slot.ready.is_set()
        if self._stopping:
            self._status = max(self._status, code or 0)
            return
        if not slot.served:  # its first start failed: it said why
            self._status = max(self._status, code or 1)
            self._failed_start = True
            return
        now = time.monotonic()
        if now - slot.started >= STEADY_S:
            slot.deaths = 0
        slot.deaths += 1
        if slot.deaths > MAX_DEATHS:
            log.error(
                "[worker %d] (pid %s) %s, its %d death in a row: giving up, stopping the others",
                slot.index, proc.pid, _death(code), slot.deaths,
            )  # fmt: skip
            self._status = 1
            self._stop()
            return
        delay = restart_delay(slot.deaths)
        slot.restart_at = now + delay
        log.error(
            "[worker %d] (pid %s) %s; restarting it in %.1f s",
            slot.index, proc.pid, _death(code), delay,
        )  # fmt: skip

    def _stop(self) -> None:
        self._stopping = True
        self._signal(signal.SIGTERM)

    def _signal(self, signum: int) -> None:
        for slot in self._slots:
            proc = slot.proc
            if proc is not None and proc.pid is not None and proc.is_alive():
                os.kill(proc.pid, signum)
