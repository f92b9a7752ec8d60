"""One sandbox worker process, seen from the server: start it, call it, stop it.

:class:`WorkerProcess` is not thread-safe; :class:`~inferd.sandbox.model.SandboxedModel` holds
a lock around it. Every wait on the worker is bounded: the interpreter's start (isolation, numpy)
by :data:`START_TIMEOUT_S`, each call (load, predict, close) by the call timeout. A worker that
does not answer in time is killed, so a hung model never holds the server's thread forever.

The worker gets a socketpair end (``pass_fds``; every other descriptor of the server is closed
in the child), stdin from /dev/null, its stdout and stderr unbuffered on the server's stderr (its
log, as they are written), a session of its own (a Ctrl-C meant for the server does not hit
it; its process group holds what the model forks, killed with the worker when it stops, dies
or is killed: :func:`_end_group`), and an environment reduced to what Python, locales and
numeric libraries need: the server's secrets stay with the server.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inferd.config import store_settings
from inferd.sandbox import cpu, pidns, tensors
from inferd.sandbox.isolation import Limits
from inferd.sandbox.wire import PeerGone, PeerTimedOut, recv_header
from inferd.sandbox.worker import EXIT_OUT_OF_MEMORY, EXIT_PROCESS_LIMIT

if TYPE_CHECKING:
    from inferd.config import SandboxSettings

log = logging.getLogger(__name__)

#: Environment variables passed to the worker: exact names, then prefixes.
_ENV_NAMES = frozenset(
    {"PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "PYTHONPATH", "LD_LIBRARY_PATH"}
)
_ENV_PREFIXES = ("OMP_", "OPENBLAS_", "MKL_", "CUDA_", "NVIDIA_")
#: The worker prints to the server's stderr (descriptor 2), whatever wraps ``sys.stderr``. It
#: runs unbuffered (``-u``): a model's ``print`` is in the log when it happens, not 8 KiB later
#: or only once the worker exits.
_STDERR = 2
#: Seconds a worker gets to exit after the server closed its socket, before it is killed.
_EXIT_GRACE_S = 5.0
#: Seconds a worker's interpreter gets to start, isolate itself and import numpy, before the
#: load (a call) begins: not charged to the call timeout, which a user sets for their model
#: (1 s on a fast model) and which a busy machine's interpreter start could use up alone.
START_TIMEOUT_S = 60.0
#: The file the OCI image-layout spec puts at a layout's root (a store is one): named here, not
#: imported from the store, which the runtimes that use the sandbox may not import.
OCI_LAYOUT = "oci-layout"


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """What to run in a worker and under which limits."""

    root: Path
    module: str
    cls: str
    limits: Limits
    #: RLIMIT_CPU per call (load, predict, close); None: unlimited.
    cpu_seconds: int | None
    #: Wall-clock limit per call, after which the worker is killed.
    timeout_s: float
    #: ``module`` is one of inferd's own (``inferd.runtimes.onnx_worker``), imported as it is
    #: and built with ``options`` as keyword arguments; its inferd errors reach the caller as
    #: they are. False: the model's own code, a module inside ``root``, built with no argument.
    builtin: bool = False
    options: dict[str, str | int | list[str]] = field(default_factory=dict)

    @classmethod
    def trusted(
        cls,
        root: Path,
        module: str,
        name: str,
        settings: SandboxSettings,
        *,
        builtin: bool = False,
        options: dict[str, str | int | list[str]] | None = None,
    ) -> WorkerSpec:
        """Code a model brings, trusted by the operator, under the ``sandbox:`` limits:
        ``module:name`` inside ``root``, or with ``builtin``/``options`` one of inferd's own
        classes that loads such code (a skops file's untrusted types)."""
        limits = Limits(
            address_space_bytes=settings.max_address_space_bytes,
            open_files=settings.max_open_files,
            allow_unisolated=settings.allow_unisolated,
            max_processes=process_cap(),
        )
        cpu, timeout = settings.max_cpu_seconds, settings.call_timeout_s
        return cls(root, module, name, limits, cpu, timeout, builtin, options or {})


class WorkerFailed(Exception):
    """The worker answered with an error (``reply`` is its header): the worker lives on."""

    def __init__(self, reply: dict[str, Any]) -> None:
        super().__init__(str(reply.get("error")))
        self.reply = reply


class WorkerDied(Exception):
    """The worker is gone (crashed, killed, out of memory or time); ``reason`` says how."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def worker_environment(environ: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in environ.items() if k in _ENV_NAMES or k.startswith(_ENV_PREFIXES)}


class WorkerProcess:
    """A started, loaded worker; :meth:`start` returns only once the user's class is loaded."""

    def __init__(
        self, spec: WorkerSpec, proc: subprocess.Popen[bytes], sock: socket.socket
    ) -> None:
        self.spec = spec
        self._proc = proc
        self._sock = sock
        #: The worker runs in its namespaces (False only with ``allow_unisolated``).
        self.isolated = False
        #: The process that runs the model (in the worker's PID namespace: the keeper's
        #: grandchild), as the server sees it.
        self._model_pid = proc.pid

    @classmethod
    def start(cls, spec: WorkerSpec) -> WorkerProcess:
        """Start a worker and wait for its load (WorkerFailed, WorkerDied when it does not)."""
        ours, theirs = socket.socketpair()
        config = {
            "root": str(spec.root),
            "module": spec.module,
            "cls": spec.cls,
            "limits": asdict(spec.limits),
            "hidden": hidden_directories(spec.root),
            "builtin": spec.builtin,
            "options": spec.options,
        }
        try:
            proc = subprocess.Popen(
                [sys.executable, "-P", "-B", "-u", "-m", "inferd.sandbox.worker",
                 str(theirs.fileno()), json.dumps(config)],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=_STDERR,
                env=worker_environment(os.environ), cwd="/", start_new_session=True,
            )  # fmt: skip
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
        worker = cls(spec, proc, ours)
        try:
            ours.settimeout(max(START_TIMEOUT_S, spec.timeout_s))
            started = recv_header(ours)
            worker._expect(started)
            worker.isolated = started.get("isolated") is True
            if started.get("pid_namespace") is True:
                worker._model_pid = _model_process(proc.pid)
            worker._limit_cpu()
        except PeerGone as exc:
            raise worker._died(exc, f"within {START_TIMEOUT_S:g} s of its start") from None
        except WorkerFailed:
            worker.stop(ask=False)  # it ends after saying why it cannot go on
            raise
        try:
            ours.settimeout(spec.timeout_s)
            worker._expect(recv_header(ours))
        except PeerGone as exc:
            raise worker._died(exc) from None
        except WorkerFailed:
            worker.stop(ask=False)  # it ends after saying why it cannot go on
            raise
        return worker

    @property
    def pid(self) -> int:
        return self._proc.pid

    def gone(self) -> WorkerDied | None:
        """How the process ended if it died between calls (the kernel's OOM killer, a ``kill``),
        its remains cleaned up; None while it runs."""
        if self._proc.poll() is None:
            return None
        return self._died(PeerGone("it ended between calls"))

    def predict(self, inputs: Mapping[str, Any]) -> tensors.Tensors:
        """Outputs of the user's predict (WorkerFailed: it raised; WorkerDied: it is gone)."""
        try:
            self._limit_cpu()
            tensors.send(self._sock, {"op": "predict"}, inputs)
            reply, outputs = tensors.receive(self._sock)
        except (PeerGone, OSError) as exc:
            raise self._died(exc) from None
        self._expect(reply)
        return outputs

    def stop(self, *, ask: bool = True) -> None:
        """Ask the user's ``close`` to run (``ask``), then end the process (killed if it
        lingers)."""
        if ask and self._proc.poll() is None:
            try:
                self._limit_cpu()
                tensors.send(self._sock, {"op": "close"}, {})
                self._expect(recv_header(self._sock))
            except (PeerGone, OSError, WorkerFailed) as exc:
                log.warning("a sandbox worker did not close cleanly: %s", exc)
        self._sock.close()
        try:
            self._proc.wait(_EXIT_GRACE_S)
        except subprocess.TimeoutExpired:
            _end_group(self._proc.pid)
            self._proc.wait()
        _end_group(self._proc.pid)

    def _limit_cpu(self) -> None:
        """Give the model's process ``spec.cpu_seconds`` more CPU time for the next call."""
        if self.spec.cpu_seconds is not None:
            cpu.limit(self._model_pid, self.spec.cpu_seconds)

    def _expect(self, reply: dict[str, Any]) -> None:
        if "error" in reply:
            raise WorkerFailed(reply)

    def _died(self, cause: BaseException, within: str = "") -> WorkerDied:
        """Make sure the process is gone and say why it went (``within``: the time it was given,
        where it is not the call timeout)."""
        self._sock.close()
        try:
            code = self._proc.wait(0.0 if isinstance(cause, PeerTimedOut) else _EXIT_GRACE_S)
            why = _exit_reason(code, self.spec)
        except subprocess.TimeoutExpired:
            _end_group(self._proc.pid)
            self._proc.wait()
            late = isinstance(cause, PeerTimedOut)
            limit = within or f"within {self.spec.timeout_s:g} s, sandbox.call_timeout_s"
            why = f"stopped answering ({limit if late else cause}) and was killed"
        _end_group(self._proc.pid)
        return WorkerDied(why)


@functools.cache
def process_cap() -> int | None:
    """The cap on a trusted model's processes and threads (:data:`pidns.MAX_PROCESSES`), or
    None where the kernel keeps no ``pid_max`` per PID namespace (before Linux 6.14), said
    once in the log."""
    if pidns.per_namespace_pid_max():
        return pidns.MAX_PROCESSES
    log.warning(
        "sandbox workers' processes are not capped: this kernel (%s) keeps no pid_max per PID "
        "namespace (Linux 6.14 and later do), so a trusted model that forks without end can "
        "use up the host's pids",
        os.uname().release,
    )
    return None


def _model_process(keeper: int) -> int:
    try:
        return cpu.model_process(keeper)
    except OSError as exc:  # a kernel without /proc/<pid>/task/<tid>/children
        log.warning("no CPU-time limit on the model of sandbox worker %d: %s", keeper, exc)
        return keeper  # uses no CPU: the call's wall-clock timeout is the limit


def hidden_directories(root: Path) -> list[str]:
    """The directories the worker for the model at ``root`` may not see
    (:mod:`inferd.sandbox.views`): the home of the store ``root`` lies in (the nearest parent
    holding ``store/oci-layout``, or ``oci-layout``: a settings file's ``store.home`` too) and
    the server's ``$INFERD_HOME`` (its control tokens, keys file, audit log), those that exist,
    as real paths."""
    marks = (Path("store") / OCI_LAYOUT, Path(OCI_LAYOUT))
    found = [p for p in root.resolve().parents if any((p / m).is_file() for m in marks)]
    candidates = [*found[:1], store_settings().root]
    paths = dict.fromkeys(os.path.realpath(p) for p in candidates if p.is_dir())
    return [p for p in paths if p != "/"]


def _end_group(pid: int) -> None:
    """Kill what is left of the process group of the worker ``pid`` (its session's: the
    processes its model forked, which would otherwise outlive it, reparented to init, past every
    limit and timeout). The worker may be gone and reaped: the kernel reuses no pid that still
    names a process group, so ``pid`` names no other group."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _exit_reason(code: int, spec: WorkerSpec) -> str:
    if code == EXIT_OUT_OF_MEMORY:
        return f"ran out of memory (address-space limit {spec.limits.address_space_bytes} bytes)"
    if code == EXIT_PROCESS_LIMIT:
        return (
            "reached its process limit (it could start no more processes or threads; "
            f"{spec.limits.max_processes} at once)"
        )
    if code == -signal.SIGXCPU:
        return f"used up its CPU-time limit ({spec.cpu_seconds} s per call)"
    if code < 0:
        return f"crashed ({signal.Signals(-code).name})"
    return f"exited with status {code}"
