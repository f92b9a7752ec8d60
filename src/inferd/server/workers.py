"""``inferd serve`` as processes: one, or ``--workers N`` sharing a port (SO_REUSEPORT)."""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable
from typing import Protocol

import uvloop

from inferd.config import ServerSettings
from inferd.errors import InferdError, InvalidArgument
from inferd.server.banner import startup_lines
from inferd.server.composition import build_server
from inferd.server.logs import configure_logging

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
) -> None:
    """Serve in this process. Worker 0 of several binds the shared port at once (so probes get
    an answer while it loads) and sets ``first_ready`` once its start is over; the others bind
    only when their models are warm and worker 0 is ready, so a connection the kernel hands to
    a worker never meets a 503 for a model still loading there."""
    server = build_server(
        settings, references, reuse_port=worker is not None, control=worker is None
    )
    stop = server.signalled()  # from the start: a signal while loading drains and stops
    if not worker:  # one process, or worker 0
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
    for line in startup_lines(server):
        log.info("%s", line if worker is None else f"[worker {worker}] {line}")
    await server.run_until_signal(stop)


def _worker_main(
    settings_json: str,
    references: list[str],
    worker: int,
    first_ready: FirstReady,
    exit_status: ExitStatus,
) -> None:
    configure_logging()
    settings = ServerSettings.model_validate_json(settings_json)
    try:
        uvloop.run(_serve_one(settings, references, worker=worker, first_ready=first_ready))
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
    (``workers == 1``) raises a start-up failure; several exit with ``exit_status(error)``,
    and the largest status is returned.
    """
    if workers <= 1:
        uvloop.run(_serve_one(settings, references, worker=None))
        return 0
    if settings.port == 0:
        raise InvalidArgument("--workers needs a fixed --port (port 0 would give each its own)")
    log.warning("%d workers: the control plane is off (restart to change models)", workers)
    gc.enable()  # this process only waits for its workers: no Server.start to turn it back on
    context = multiprocessing.get_context("spawn")
    first_ready = context.Event()
    procs = [
        context.Process(
            target=_worker_main,
            args=(settings.model_dump_json(), references, i, first_ready, exit_status),
        )
        for i in range(workers)
    ]
    for proc in procs:
        proc.start()

    def forward(signum: int, _frame: object) -> None:
        for proc in procs:
            if proc.pid is not None and proc.is_alive():
                os.kill(proc.pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for proc in procs:
        proc.join()
    return max((proc.exitcode or 0) for proc in procs)
