"""One replica: an ``inferd serve`` child process, probed, restarted with backoff, drained.

A :class:`ReplicaProcess` runs a small loop on the event loop: start the process on a free port,
probe ``/v2/health/ready`` until it answers 200 (state ``starting`` → ``ready``), keep probing
while it runs, and when the process exits unasked, mark it ``failed`` and start it again after
the backoff delay (one that stops answering probes at all, hung, is killed first). The reason
names the exit and, when the server said why on its ``error:`` line (docs/cli.md), what it
said; a server that exits that way before it was ever ready, with a status no restart cures
(:data:`RETRYABLE_EXITS`), sets :attr:`ReplicaProcess.start_error` so an apply waiting for it
gives up at once (a model that cannot load).
:meth:`ReplicaProcess.stop` drains: SIGTERM (the server stops taking requests and finishes
those in flight), SIGKILL only after the grace period. An engine replica (llama-server, vLLM,
:mod:`.engines`) is probed on its own health path, and drained by inferd, since an engine
stopped by SIGTERM drops what it runs: its ``/metrics`` is read until it runs and holds no
request (within the grace period), then SIGTERM, then SIGKILL.

Every state change calls ``on_change`` so the supervisor can publish a new topology.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil

from inferd.addresses import url_host
from inferd.control.replicas import exits
from inferd.control.replicas.backoff import BackoffPolicy
from inferd.control.replicas.child import Child, spawn
from inferd.control.replicas.engine_metrics import in_flight
from inferd.control.replicas.launch import ReplicaLaunch, free_port
from inferd.control.replicas.logs import TAIL_BYTES, RotatingLog, pump
from inferd.control.replicas.topology import Replica, ReplicaState

log = logging.getLogger(__name__)

#: Readiness probing: fast while starting (tests and `inferd up` wait on it), then once a second.
STARTUP_PROBE_S = 0.1
PROBE_PERIOD_S = 1.0
PROBE_TIMEOUT_S = 2.0
#: Consecutive failed probes before a running replica is taken out of rotation (Kubernetes'
#: default failureThreshold).
FAILURE_THRESHOLD = 3
#: Consecutive probes a running replica does not answer at all (refused, or silent for
#: PROBE_TIMEOUT_S) before it is taken for hung and killed, to be restarted: the liveness
#: probe Kubernetes would restart its pod on. One that answers, even 503, is alive.
LIVENESS_THRESHOLD = 10
#: Longest a starting replica may go without answering its probe before it is restarted; one that
#: answers (503 while loading) waits up to MAX_LOADING_S, as `inferd k8s render`'s startup probe.
DEFAULT_STARTUP_TIMEOUT_S = 120.0
MAX_LOADING_S = 1800.0
#: After SIGTERM and the grace period, how long SIGKILL may take to be reaped.
KILL_WAIT_S = 5.0
#: How often a draining engine's metrics are read, and how long an engine that drained has
#: at least between SIGTERM and SIGKILL.
DRAIN_POLL_S = 0.1
ENGINE_TERM_WAIT_S = 5.0
#: ``inferd serve`` exit statuses a restart may cure (docs/cli.md): 7, unavailable (e.g. the
#: port was taken between our pick and its bind), and 8, timed out. Any other failure it
#: explains before it is ready (a model that cannot load, a reference the store lacks, code
#: not trusted) comes back on every restart.
RETRYABLE_EXITS = frozenset({7, 8})


class ReplicaProcess:
    """One supervised model-server process; state is read through :meth:`snapshot`."""

    def __init__(
        self,
        replica_id: str,
        launch: ReplicaLaunch,
        on_change: Callable[[], None],
        *,
        policy: BackoffPolicy | None = None,
        startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S,
    ) -> None:
        self.id = replica_id
        self.launch = launch
        self.state: ReplicaState = "starting"
        self.port = 0
        self.grpc_port = 0
        self.pid: int | None = None
        self.restarts = 0
        self.started_at: float | None = None
        #: When the last process exited (time.time(), as ``started_at``); None: none has.
        self.exited_at: float | None = None
        self.reason: str | None = None
        #: Why the server refused to start, when it exited before ever being ready, saying
        #: why, with a status no restart cures; None otherwise.
        self.start_error: str | None = None
        #: Failures since it was last ready for a while (drives the backoff delay).
        self.consecutive_failures = 0
        #: When the process last answered a probe, or started (time.monotonic()).
        self.heard_at = time.monotonic()
        self._on_change = on_change
        self._policy = policy or BackoffPolicy()
        self._startup_timeout_s = startup_timeout_s
        self._proc: Child | None = None
        self._stopping = asyncio.Event()
        self._became_ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Readiness probes, over every restart (closed when supervising ends); trust_env off:
        # a proxy from the environment must not stand between us and loopback.
        self._probes = httpx.AsyncClient(timeout=PROBE_TIMEOUT_S, trust_env=False)
        self._log: RotatingLog | None = None
        #: ``self._log.written`` when the current process started.
        self._run_began = 0
        self._pump: asyncio.Task[None] | None = None

    @property
    def log_path(self) -> Path:
        """Where its output goes (rotated beside it)."""
        return self.launch.log_dir / f"{self.id}.log"

    def snapshot(self) -> Replica:
        return Replica(
            id=self.id,
            deployment=self.launch.deployment,
            version=self.launch.version,
            host=self.launch.host,
            port=self.port,
            state=self.state,
            pid=self.pid,
            restarts=self.restarts,
            started_at=self.started_at,
            exited_at=self.exited_at,
            reason=self.reason,
            grpc_port=self.grpc_port or None,
            engine=self.launch.engine_series,
        )

    def start(self) -> None:
        """Start supervising (returns at once; see :meth:`wait_ready`)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._supervise(), name=self.id)

    async def wait_ready(self) -> None:
        """Return once the replica has been ready at least once."""
        await self._became_ready.wait()

    async def stop(self, grace_s: float) -> None:
        """Drain and stop: SIGTERM, wait up to ``grace_s``, then SIGKILL. Idempotent.

        An engine replica is drained first (its requests finish, up to ``grace_s``), then gets
        SIGTERM and what is left of the grace period, at least :data:`ENGINE_TERM_WAIT_S`.
        """
        was_ready = self.state == "ready"
        if self.state != "stopped":
            self._set("draining")
        self._stopping.set()
        wait_s = grace_s
        if self.launch.engine is not None:
            began = time.monotonic()
            if was_ready:
                await self._wait_idle(grace_s)
            wait_s = max(grace_s - (time.monotonic() - began), ENGINE_TERM_WAIT_S)
        self._signal(signal.SIGTERM)
        task = self._task
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), wait_s)
            except TimeoutError:
                log.warning("replica %s did not drain in %.0f s; killing it", self.id, grace_s)
                self._signal(signal.SIGKILL)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(task), KILL_WAIT_S)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._log is not None:
            self._log.close()
        if self.pid is not None:  # not reaped where it runs (killed past the wait)
            self.exited_at = time.time()
        self.pid = None
        self.started_at = None
        self._set("stopped")

    async def _wait_idle(self, grace_s: float) -> None:
        """Until the engine runs and holds no request, its metrics stop answering, or
        ``grace_s`` passes."""
        engine = self.launch.engine
        assert engine is not None
        url = f"http://{url_host(self.launch.host)}:{self.port}/metrics"
        deadline = time.monotonic() + grace_s
        while self._proc is not None and self._proc.returncode is None:
            try:
                response = await self._probes.get(url)
            except httpx.HTTPError:
                return
            busy = in_flight(engine.engine, response.text) if response.status_code == 200 else None
            if not busy:  # idle, or it cannot say: nothing to wait for
                return
            if time.monotonic() >= deadline:
                log.warning("replica %s still has %.0f requests after %.0f s", self.id, busy,
                            grace_s)  # fmt: skip
                return
            await asyncio.sleep(DRAIN_POLL_S)

    def _signal(self, sig: signal.Signals) -> None:
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)

    def _set(self, state: ReplicaState, reason: str | None = None) -> None:
        if (state, reason) != (self.state, self.reason):
            self.state, self.reason = state, reason
            self._on_change()

    async def _supervise(self) -> None:
        try:
            while not self._stopping.is_set():
                ready_at = await self._run_once()
                if self._stopping.is_set():
                    return
                uptime = time.monotonic() - ready_at if ready_at is not None else 0.0
                failures = self._policy.failures_after(self.consecutive_failures, uptime)
                self.consecutive_failures, self.restarts = failures, self.restarts + 1
                delay, reason = self._policy.delay(failures), self.reason
                if failures > 1 and reason:  # a crash loop: say so, with the back-off
                    self._set("failed", exits.crash_loop(reason, failures, delay))
                output = f" (its output: {self._log.path})" if self._log is not None else ""
                log.warning("replica %s %s; restarting in %.1f s%s", self.id, reason, delay, output)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
        finally:
            await self._probes.aclose()

    async def _run_once(self) -> float | None:
        """Run the process until it exits; return when it became ready (monotonic), if it did."""
        try:
            proc = await self._spawn()
        except OSError as exc:  # e.g. the log directory vanished: a failure like any other
            self._set("failed", f"cannot start: {exc.strerror or exc}")
            return None
        exited = asyncio.ensure_future(proc.wait())
        ready_at: float | None = None
        hung: str | None = None
        late = ""
        try:
            ready_at, late = await self._wait_until_ready(exited)
            if ready_at is not None:
                hung = await self._probe_while_running(exited)
            return ready_at
        finally:
            # Still running here means not ready in time (stuck loading) or being stopped: a
            # stuck one is killed and counted as a failure; a stopping one got SIGTERM already.
            stuck = not exited.done() and not self._stopping.is_set()
            if stuck:
                self._signal(signal.SIGKILL)
            await exited
            self.exited_at = time.time()
            await self._drain_output()
            proc.close()
            if not self._stopping.is_set():
                reason = hung or (
                    late
                    if stuck
                    else self._exit_reason(proc.returncode, ever_ready=ready_at is not None)
                )
                self._set("failed", reason)
            self.pid = None
            self.started_at = None

    def _exit_reason(self, code: int | None, *, ever_ready: bool) -> str:
        """How the process ended, with what it said on its last ``error:`` line."""
        said = None
        if self._log is not None:
            output = self._run_output()
            if self.launch.engine is not None:  # engines have no error: line; their last words
                return exits.with_last_line(exits.describe_exit(code), output)
            said = exits.error_line(output)
        if said is None:
            return exits.describe_exit(code)
        if not ever_ready and code is not None and code > 0 and code not in RETRYABLE_EXITS:
            self.start_error = said
        return f"{exits.describe_exit(code)}: {said}"

    def _run_output(self) -> bytes:
        """The end of what this run wrote (an earlier run's error is not its own)."""
        log = self._log
        return b"" if log is None else log.tail(min(TAIL_BYTES, log.written - self._run_began))

    async def _spawn(self) -> Child:
        self.port = free_port(self.launch.host)
        self.grpc_port = free_port(self.launch.host) if self.launch.serves_grpc else 0
        self.reason = None
        self._set("starting")
        if self._log is None:
            self._log = RotatingLog(self.log_path)
        self._log.open()
        self._run_began = self._log.written
        self.heard_at = time.monotonic()
        # Its own session: a Ctrl-C in the terminal reaches `inferd up`, which drains the
        # gateway before the replicas, instead of every replica at once.
        proc = await spawn(
            self.launch.command(self.port, self.grpc_port), self.launch.environment(self.id)
        )
        self._pump = asyncio.create_task(pump(proc.stdout, self._log))
        self._proc, self.pid, self.started_at = proc, proc.pid, time.time()
        if self._stopping.is_set():  # stop() came while the process was being created
            self._signal(signal.SIGTERM)
        self._on_change()
        return proc

    async def _drain_output(self) -> None:
        """Copy what the exited process still had in the pipe (bounded: a grandchild that kept
        the pipe open must not hold up the restart)."""
        if self._pump is not None:
            with contextlib.suppress(TimeoutError, OSError):
                await asyncio.wait_for(self._pump, KILL_WAIT_S)
            self._pump = None

    async def _wait_until_ready(self, exited: asyncio.Future[int]) -> tuple[float | None, str]:
        """When it became ready (monotonic), if it did; else why it is taken for stuck, if it
        is (silent for the startup timeout, or answering but not ready after MAX_LOADING_S)."""
        began = time.monotonic()
        while not exited.done() and not self._stopping.is_set():
            answer = await self._probe()
            if answer and self._listens_itself():
                self.start_error = None
                self._became_ready.set()
                self._set("ready")
                return time.monotonic(), ""
            now = time.monotonic()
            if answer is not None:
                self.heard_at = now
            if now - self.heard_at > self._startup_timeout_s:
                return None, f"no answer to its health probe for {self._startup_timeout_s:.0f} s"
            if now - began > MAX_LOADING_S:
                return None, f"not ready after {MAX_LOADING_S:.0f} s"
            await asyncio.wait([exited], timeout=STARTUP_PROBE_S)
        return None, ""

    def _listens_itself(self) -> bool:
        """Whether the process listens on its port itself.

        The port was free when picked, but another process may bind it before this one does
        (another server starting on the machine). Its answer to the probe would make a replica
        that never bound, or that cannot load its model, look ready; this one then exits on the
        taken port (a restart picks another) or on its own error.
        """
        if self.pid is None:
            return False
        try:
            process = psutil.Process(self.pid)
            # ``inferd serve --workers`` listens in its worker processes.
            sockets = [
                c for p in (process, *process.children(recursive=True))
                for c in p.net_connections(kind="tcp")
            ]  # fmt: skip
        except psutil.Error:
            return False
        return any(
            c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == self.port
            for c in sockets
        )

    async def _probe_while_running(self, exited: asyncio.Future[int]) -> str | None:
        """Probe until the process exits; the reason it was killed for, if it hung."""
        failures = silent = 0
        while not exited.done():
            await asyncio.wait([exited], timeout=PROBE_PERIOD_S)
            if exited.done() or self._stopping.is_set():
                continue
            answer = await self._probe()
            if answer:
                failures = silent = 0
                self._set("ready")
                continue
            failures += 1
            silent = silent + 1 if answer is None else 0
            if silent >= LIVENESS_THRESHOLD:
                self._signal(signal.SIGKILL)
                await exited
                return f"hung: no answer to {silent} health probes in a row; killed"
            if failures >= FAILURE_THRESHOLD:
                said = exits.unready_reason(self._run_output(), LIVENESS_THRESHOLD, answer is None)
                self._set("starting", said)
        await exited
        return None

    async def _probe(self) -> bool | None:
        """Whether the replica is ready; None when it did not answer at all."""
        url = f"http://{url_host(self.launch.host)}:{self.port}{self.launch.health_path}"
        try:
            response = await self._probes.get(url)
        except httpx.HTTPError:
            return None
        return response.status_code == 200
