"""A model whose code runs in a sandbox worker, restarted with backoff when the worker dies.

Policy, in order:

- ``predict`` sends the batch to the worker and returns its outputs. If the user's code raises,
  the worker survives and the batch fails with :class:`ModelRaised` (details in the server
  log; InternalError for outputs that are no arrays), but for an inferd error
  (``InvalidArgument``: the model's way to say "bad input"): that fails the batch as the
  class of :mod:`inferd.errors` it derives from, with its message only.
- If the worker dies mid-call — a crash (SIGSEGV…), the address-space limit (MemoryError), the
  CPU-time limit (SIGXCPU) or the wall-clock timeout (killed) — the batch in flight fails with
  Unavailable (503 + Retry-After) and a restart is scheduled at once in the background.
- A worker found dead between calls (the OOM killer, a ``kill``) costs no request: it counts
  as a death, and the request that found it starts the new worker when the backoff allows.
- Consecutive deaths space restarts out: 0 s, then 0.5 s doubling up to 30 s (like the replica
  supervisor's CrashLoopBackOff); one successful predict resets the count. A request that comes
  while no worker is up gets Unavailable with the remaining wait as Retry-After, or, once the
  wait is over, starts the worker itself and waits for its load (bounded by the call timeout).
- Other models are untouched: each has its own worker process, and the server's never runs
  user code.
- A builtin model (one of inferd's own runtimes run in a worker, ``spec.builtin``: an ONNX
  session with string inputs) is trusted: an inferd error it raises (a client's bad input)
  reaches the caller as it is, not as InternalError.

One lock serialises calls, restarts and close, so exactly one thread talks to the worker.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from pathlib import Path
from typing import Any

from inferd import errors
from inferd.backoff import restart_delay
from inferd.datatypes import Tensors
from inferd.errors import (
    Code,
    InferdError,
    InternalError,
    InvalidArgument,
    ModelRaised,
    PermissionDenied,
    RetryLater,
    Unavailable,
    WorkerRestarting,
    rebuilt,
)
from inferd.sandbox.process import WorkerDied, WorkerFailed, WorkerProcess, WorkerSpec
from inferd.sandbox.worker import PACKAGE

log = logging.getLogger(__name__)

#: Longest text taken from a worker's reply into an error (it comes from untrusted code).
_MAX_MESSAGE = 200
#: Longest message of an inferd error a model raised (a client reads it: room for a reason).
_MAX_ERROR_MESSAGE = 1000
#: The longest Retry-After a builtin worker's error may ask of clients.
_MAX_RETRY_AFTER_S = 3600.0


class SandboxedModel:
    """The :class:`~inferd.runtimes.base.Model` of a trusted user class in a worker process."""

    def __init__(self, label: str, spec: WorkerSpec) -> None:
        self._label = label
        self._spec = spec
        self._lock = threading.Lock()
        self._worker: WorkerProcess | None = None
        self._deaths = 0
        self._restart_at = 0.0
        self._last_death = ""
        self._closed = False

    @classmethod
    def load(cls, label: str, spec: WorkerSpec) -> SandboxedModel:
        """Start the worker and load the class; load errors raise as the runtime's errors."""
        model = cls(label, spec)
        try:
            model._worker = worker = WorkerProcess.start(spec)
        except WorkerFailed as exc:
            raise _load_error(spec, exc.reply) from None
        except WorkerDied as exc:
            raise InvalidArgument(
                f"loading {_entrypoint(spec)!r} failed: its worker {exc.reason}"
            ) from None
        if spec.builtin:
            log.info("%s: runs in worker process pid %d", label, worker.pid)
        elif worker.isolated:
            log.info("%s: trusted code runs in sandbox worker pid %d", label, worker.pid)
        else:
            log.warning(
                "%s: trusted code runs in worker pid %d WITHOUT network and mount isolation "
                "(sandbox.allow_unisolated; this platform refused the namespaces)",
                label,
                worker.pid,
            )
        return model

    @property
    def pid(self) -> int | None:
        """The worker's process id while one runs (for logs and tests)."""
        worker = self._worker
        return worker.pid if worker is not None else None

    @property
    def available(self) -> bool:
        """A worker is up to take a call: False while it is dead and its restart is under way
        or held back by the backoff (a request would get Unavailable), and once closed. A
        worker found dead here counts as a death and its restart is scheduled, as a request
        finding it would; while a call holds the lock, the worker it runs on is up."""
        if not self._lock.acquire(blocking=False):
            return self._worker is not None
        try:
            if self._closed or self._worker is None:
                return False
            gone = self._worker.gone()
            if gone is None:
                return True
            self._died(gone.reason)
            return False
        finally:
            self._lock.release()

    def predict(self, inputs: Tensors) -> Tensors:
        with self._lock:
            worker = self._running()
            try:
                outputs = worker.predict(inputs)
            except WorkerFailed as exc:
                if (error := _raised_error(self._spec, exc.reply)) is not None:
                    raise error from None
                log.error("%s: predict failed in its worker: %s", self._label, exc.reply)
                if exc.reply.get("error") == "outputs":
                    message = str(exc.reply.get("message", ""))[:_MAX_MESSAGE]
                    raise InternalError(message) from None
                raise ModelRaised(f"the model's predict raised {_type(exc.reply)}") from None
            except WorkerDied as exc:
                raise self._died(exc.reason) from None
            self._deaths = 0
            return outputs

    def close(self) -> None:
        with self._lock:
            self._closed = True
            worker, self._worker = self._worker, None
            if worker is not None:
                worker.stop()

    def _running(self) -> WorkerProcess:
        """The live worker, starting one if the backoff allows; Unavailable otherwise."""
        if self._closed:
            raise Unavailable(f"{self._label} is closed")
        if self._worker is not None:
            gone = self._worker.gone()
            if gone is None:
                return self._worker
            # It died between calls: no request was on it. Count the death (the backoff holds
            # a worker that keeps dying), then start one now if the backoff allows.
            self._died(gone.reason)
        wait = self._restart_at - time.monotonic()
        if wait > 0:
            raise Unavailable(
                f"{self._label}'s worker {self._last_death}; restarting it",
                retry_after=math.ceil(wait),
            )
        self._start()
        assert self._worker is not None
        return self._worker

    def _start(self) -> None:
        """Start a worker (lock held); a failure counts as a death and schedules the next try."""
        try:
            self._worker = WorkerProcess.start(self._spec)
        except WorkerFailed as exc:
            raise self._died(f"failed to load again ({_type(exc.reply)})") from None
        except WorkerDied as exc:
            raise self._died(f"failed to restart: it {exc.reason}") from None
        log.info("%s: worker restarted (pid %d)", self._label, self._worker.pid)

    def _died(self, reason: str) -> WorkerRestarting:
        """Record a death (lock held), schedule the restart, and say what the caller gets."""
        self._worker = None
        self._deaths += 1
        self._last_death = reason
        delay = restart_delay(self._deaths)
        self._restart_at = time.monotonic() + delay
        log.error("%s: its sandbox worker %s; restarting in %.1f s", self._label, reason, delay)
        timer = threading.Timer(delay, self._restart)
        timer.daemon = True
        timer.start()
        return WorkerRestarting(
            f"{self._label}'s worker {reason}; it is being restarted", reason, max(1, delay)
        )

    def _restart(self) -> None:
        with self._lock:
            if self._closed or self._worker is not None or time.monotonic() < self._restart_at:
                return  # closed, restarted by a request meanwhile, or a later timer's turn
            with contextlib.suppress(Unavailable):  # _died logged it and scheduled a retry
                self._start()


def _entrypoint(spec: WorkerSpec) -> str:
    return f"{spec.module}:{spec.cls}"


def _type(reply: dict[str, Any]) -> str:
    """The exception type a worker named, if it looks like a Python name (it is untrusted)."""
    name = reply.get("type")
    return name if isinstance(name, str) and name.isidentifier() else "an exception"


def _inferd_error(reply: dict[str, Any]) -> InferdError | None:
    """The inferd error a builtin worker raised, from its ``inferd`` reply (None: another).

    A builtin worker may still run a model's code (a skops file's own types), which may raise
    an inferd error with attributes of its choosing: only text attributes (and a finite
    ``retry_after``) are kept, and never ``code``, which decides the status: an error whose
    ``code`` was "spoofed" answered 500, and an infinite ``retry_after`` left its request
    unanswered (Retry-After is its ceiling)."""
    kind, attributes = reply.get("kind"), reply.get("attributes")
    if reply.get("error") != "inferd" or not isinstance(kind, str):
        return None
    kept: dict[str, object] = {}
    for name, value in (attributes if isinstance(attributes, dict) else {}).items():
        if name == "retry_after":
            if isinstance(value, int | float) and math.isfinite(value):
                kept[name] = min(max(float(value), 1.0), _MAX_RETRY_AFTER_S)
        elif name != "code" and isinstance(name, str) and isinstance(value, str | bool):
            kept[name] = value[:_MAX_ERROR_MESSAGE] if isinstance(value, str) else value
    error = rebuilt(kind, kept)
    if isinstance(error, RetryLater) and "retry_after" not in kept:
        error.retry_after = 1.0
    return error


def _model_error(reply: dict[str, Any]) -> InferdError | None:
    """The inferd error the model's own code raised, from its ``inferd`` reply (None: another,
    or one that claims no status but INTERNAL's): built again as the class of
    :mod:`inferd.errors` whose status it has (a model's InvalidTensor or its own subclass of
    InvalidArgument as InvalidArgument), from its message alone; nothing else it sent is kept."""
    kind, attributes = reply.get("kind"), reply.get("attributes")
    if reply.get("error") != "inferd" or not isinstance(kind, str):
        return None
    found = vars(errors).get(kind)
    if not isinstance(found, type) or not issubclass(found, InferdError):
        return None
    cls: type[InferdError] = next(
        c for c in found.__mro__ if issubclass(c, InferdError) and "code" in vars(c)
    )
    if cls.code is Code.INTERNAL:
        return None
    text = attributes.get("message") if isinstance(attributes, dict) else None
    return cls(text[:_MAX_ERROR_MESSAGE] if isinstance(text, str) else f"{kind} from the model")


def _raised_error(spec: WorkerSpec, reply: dict[str, Any]) -> InferdError | None:
    """The inferd error a worker's reply carries, to raise as it is (None: not one)."""
    return _inferd_error(reply) if spec.builtin else _model_error(reply)


def _load_error(spec: WorkerSpec, reply: dict[str, Any]) -> Exception:
    if (error := _raised_error(spec, reply)) is not None:
        if spec.builtin:
            return error
        return InvalidArgument(
            f"loading {_entrypoint(spec)!r} raised {type(error).__name__}: {error.message}"
        )
    kind = reply.get("error")
    if kind == "isolation":
        return PermissionDenied(
            f"the python runtime refused to run {_entrypoint(spec)!r}: "
            f"isolation is not available here: {str(reply.get('message', ''))[:1000]}"
        )
    if kind == "not_a_model":
        return InvalidArgument(_not_a_model(spec, reply.get("found")))
    missing = reply.get("module")
    if _type(reply) == "ModuleNotFoundError" and isinstance(missing, str) and _dotted(missing):
        where = _where(missing, spec.root)
        return InvalidArgument(f"loading {_entrypoint(spec)!r} failed: it imports {where}")
    return InvalidArgument(f"loading {_entrypoint(spec)!r} raised {_type(reply)}")


def _not_a_model(spec: WorkerSpec, found: object) -> str:
    """What an entrypoint names instead of a model class (``found``: the worker's word)."""
    if found == "missing":
        return f"{_entrypoint(spec)!r}: module {spec.module!r} has no {spec.cls!r}"
    if found == "async":
        return (
            f"{_entrypoint(spec)!r} defines predict or load with async def: the python runtime "
            "calls them as plain functions (def), one batch at a time"
        )
    if found == "type":
        return f"{_entrypoint(spec)!r} is a class without a predict method"
    if isinstance(found, str) and found.isidentifier():
        return f"{_entrypoint(spec)!r} is a {found}, not a class with a predict method"
    return f"{_entrypoint(spec)!r} is not a class with a predict method"


def _dotted(name: str) -> bool:
    return bool(name) and all(part.isidentifier() for part in name.split("."))


def _where(module: str, root: Path) -> str:
    """Where the module a model imports is missing from: the model's own files, or the server's
    environment (``root``: the model's directory, where a sibling imported as installed is)."""
    top = module.split(".", maxsplit=1)[0]
    if (root / f"{top}.py").is_file() or (root / top / "__init__.py").is_file():
        return (
            f"{module!r} as an installed module, but it is a module of the model: import it "
            f"relatively (from . import {top})"
        )
    if module.startswith(f"{PACKAGE}."):
        inside = module.removeprefix(f"{PACKAGE}.")
        path = inside.replace(".", "/")
        return (
            f"{inside!r}, which is in no file of the model "
            f"(neither {path}.py nor {path}/__init__.py)"
        )
    return (
        f"{module!r}, which is not installed where the server runs: install it beside inferd "
        "(inferd installs nothing a model imports)"
    )
