"""The sandbox worker: ``python -m inferd.sandbox.worker FD CONFIG`` (started by the server).

It isolates itself first (:mod:`inferd.sandbox.isolation`), then imports numpy and the user's
class, loads it, and answers the server's calls on the socket ``FD`` until the server closes
it. Replies (all JSON headers, plus tensors for ``predict``):

- ``{"status": "started", "isolated": bool, "pid_namespace": bool}`` — isolated (the
  namespaces are in place: bool; it runs in a PID namespace of its own, :mod:`pidns`: bool)
  and numpy imported; the user's class is loaded next (the server sets its CPU-time limit,
  :mod:`inferd.sandbox.cpu`, before each call). The server gives the interpreter's start
  its own allowance, so only the load counts against the call timeout;
- ``{"status": "ready"}`` — loaded;
- ``{"status": "ok"}`` — predicted (outputs follow), closed;
- ``{"error": "isolation", "message": …}`` — refused to run without its isolation;
- ``{"error": "not_a_model", "found": …}`` — the entrypoint is not a class with ``predict``:
  ``missing`` from its module, the type of what it is (``type``: a class without it), or
  ``async``: a class whose ``predict`` or ``load`` is a coroutine function;
- ``{"error": "raised", "type": …}`` — the user's code raised (the traceback goes to stderr,
  which is the server's log); with ``"module"``, the name a ModuleNotFoundError gave;
- ``{"error": "inferd", "kind": …, "attributes": …}`` — a builtin model (one of inferd's own
  modules, ``builtin`` in the config) raised an inferd error: its class name and attributes,
  for the server to raise it again as it is (:func:`inferd.errors.rebuilt`). The user's code
  raised one (``inferd.errors.InvalidArgument`` for a bad input, or a subclass of its own):
  the name of the class of :mod:`inferd.errors` it derives from and ``{"message": …}`` only
  (an INTERNAL one is ``raised``), which the server checks before it believes any of it;
- ``{"error": "outputs", "message": …}`` — predict returned something other than named arrays.

A MemoryError (the address-space limit) ends the process with :data:`EXIT_OUT_OF_MEMORY`: its
heap may be half-built, so the server restarts it rather than trust it further. A server gone
without closing the socket (killed) ends the worker and its process group, even mid-predict.
A process the model forked that returns (or raises) out of the model's code into the worker's
ends there: only the model's process answers.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import importlib.machinery
import inspect
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import traceback
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from inferd.sandbox import pidns
from inferd.sandbox.isolation import IsolationRefused, Limits, isolate
from inferd.sandbox.wire import PeerGone, send_header

#: Exit status of a worker that ran out of memory (hit its address-space limit).
EXIT_OUT_OF_MEMORY = 86
#: Exit status of a worker whose model could start no more processes or threads: its PID
#: namespace is at its cap (:func:`inferd.sandbox.pidns.cap_processes`).
EXIT_PROCESS_LIMIT = 87
#: The package name user modules are imported under (``from . import helpers`` works).
PACKAGE = "_inferd_model"
#: How often the worker looks whether the server that started it is still its parent.
PARENT_CHECK_S = 0.5
#: The format of the server's log (:data:`inferd.server.logs.LOG_FORMAT`), for what models log.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: The longest message of a model's inferd error sent to the server (which cuts it again).
MAX_MESSAGE = 1000


def main(argv: list[str]) -> int:
    fd, config = int(argv[0]), json.loads(argv[1])
    sock = socket.socket(fileno=fd)
    root = Path(config["root"])
    try:
        isolated = isolate(root, Limits(**config["limits"]), config["hidden"], fd)
    except IsolationRefused as exc:
        send_header(sock, {"error": "isolation", "message": str(exc)})
        return 1
    _Serving.pid = os.getpid()
    # Started after the namespaces: unshare refuses some of them to a threaded process. In a
    # PID namespace, the keeper outside it watches the server instead (:mod:`pidns`).
    if not pidns.Namespace.entered:
        threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    try:
        return _serve(sock, root, config, isolated)
    except MemoryError:
        os._exit(EXIT_OUT_OF_MEMORY)
    except (PeerGone, OSError):
        return 0  # the server went away; nobody is left to answer


class _Serving:
    """The process that answers on the socket (the model's process, once isolated)."""

    pid = 0


@contextlib.contextmanager
def _model_code() -> Iterator[None]:
    """Around a call into the model's code: a process it forked and left running that code
    (``os.fork()``, no ``os._exit`` in the child) ends when it returns or raises out of it,
    silently. Only the serving process answers: a second answer on the socket was the next
    request's, another client's."""
    try:
        yield
    finally:
        if os.getpid() != _Serving.pid:
            os._exit(0)


def _watch_parent(parent: int) -> None:
    """End this worker's process group (the worker, what its model forked) once the server that
    started it is gone without closing it (SIGKILL, the OOM killer): a busy or hung predict
    would otherwise run on under init, past every timeout the server enforced."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os.killpg(0, signal.SIGKILL)


def _serve(sock: socket.socket, root: Path, config: dict[str, Any], isolated: bool) -> int:
    from inferd.sandbox import tensors  # numpy: only once isolated

    # What the model logs joins the server's log as the server writes its own (INFO and up).
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    started = {"isolated": isolated, "pid_namespace": pidns.Namespace.entered}
    send_header(sock, {"status": "started", **started})
    instance = _load(sock, root, config)
    if instance is None:
        return 1
    send_header(sock, {"status": "ready"})
    # A builtin model may take BYTES as text (an ONNX session's string inputs: one pass, here).
    text = config["builtin"] and getattr(instance, "bytes_as_text", False) is True
    while True:
        try:
            header, inputs = tensors.receive(sock, text=text)
        except PeerGone:
            header, inputs = {"op": "close"}, {}
        if header.get("op") == "close":
            _call(sock, getattr(instance, "close", None))
            return 0
        try:
            with _model_code():
                outputs = instance.predict(inputs)
        except MemoryError:
            raise
        except Exception as exc:
            _raised(sock, exc, builtin=config["builtin"])
            continue
        if not isinstance(outputs, dict) or not all(isinstance(k, str) for k in outputs):
            send_header(sock, {"error": "outputs", "message": _not_outputs(outputs)})
            continue
        try:
            tensors.send(sock, {"status": "ok"}, outputs)
        except (ValueError, TypeError) as exc:  # NotData
            send_header(sock, {"error": "outputs", "message": f"an output is not an array: {exc}"})


def _not_outputs(outputs: object) -> str:
    """What is wrong with what predict returned, which is not a dict of output name to array."""
    if isinstance(outputs, dict):
        key = next(k for k in outputs if not isinstance(k, str))
        return f"the model's predict returned a dict with key {key!r:.40}, not an output name (str)"
    return (
        f"the model's predict returned {type(outputs).__name__}, not a dict of output name to array"
    )


def _load(sock: socket.socket, root: Path, config: dict[str, Any]) -> Any:
    builtin: bool = config["builtin"]
    module: str = config["module"]
    if not builtin:
        package = types.ModuleType(PACKAGE)
        package.__path__ = [str(root)]
        package.__spec__ = importlib.machinery.ModuleSpec(PACKAGE, None, is_package=True)
        package.__spec__.submodule_search_locations = [str(root)]
        sys.modules[PACKAGE] = package
        module = f"{PACKAGE}.{module}"
    try:
        with _model_code():
            found = getattr(importlib.import_module(module), config["cls"], _MISSING)
        if not isinstance(found, type) or not callable(getattr(found, "predict", None)):
            what = "missing" if found is _MISSING else type(found).__name__
            what = "type" if isinstance(found, type) else what  # a metaclass of its own too
            send_header(sock, {"error": "not_a_model", "found": what})
            return None
        if any(inspect.iscoroutinefunction(getattr(found, f, None)) for f in ("predict", "load")):
            send_header(sock, {"error": "not_a_model", "found": "async"})  # never awaited
            return None
        with _model_code():
            instance = found(**config["options"]) if builtin else found()
            if callable(getattr(instance, "load", None)):
                instance.load(root)
    except MemoryError:
        raise
    except Exception as exc:
        _raised(sock, exc, builtin=builtin)
        return None
    return instance


def _out_of_processes(exc: BaseException) -> bool:
    """Whether the model's code failed for want of a pid: a fork or thread refused (EAGAIN;
    a thread's start raises RuntimeError) while its namespace is at its cap, none free now."""
    if pidns.Namespace.max_processes is None:
        return False
    seen: BaseException | None = exc
    for _ in range(8):  # the exception and what it was raised from, a few deep
        if seen is None:
            return False
        refused = isinstance(seen, OSError) and seen.errno == errno.EAGAIN
        if refused or (isinstance(seen, RuntimeError) and "can't start new thread" in str(seen)):
            return pidns.full()
        seen = seen.__cause__ or seen.__context__
    return False


#: What an entrypoint's module lacking the class gives (a module may hold None under the name).
_MISSING = object()


def _call(sock: socket.socket, fn: Any) -> None:
    try:
        if callable(fn):
            with _model_code():
                fn()
        send_header(sock, {"status": "ok"})
    except MemoryError:
        raise
    except Exception as exc:
        _raised(sock, exc)


def _raised(sock: socket.socket, exc: BaseException, *, builtin: bool = False) -> None:
    from inferd.errors import Code, InferdError  # standard library only until isolated

    if _out_of_processes(exc):
        traceback.print_exception(exc, file=sys.stderr)
        os._exit(EXIT_PROCESS_LIMIT)  # ends the namespace: what the model forked goes with it
    if builtin and isinstance(exc, InferdError):
        attributes = {k: v for k, v in vars(exc).items() if isinstance(v, str | int | float)}
        send_header(sock, {"error": "inferd", "kind": type(exc).__name__, "attributes": attributes})
        return
    # The model's own inferd error (its way to say "bad input"): the inferd class it derives
    # from and its message, nothing else; a status is the server's to give, from that class.
    kind = next((c for c in type(exc).__mro__ if c.__module__ == InferdError.__module__), None)
    if kind is not None and issubclass(kind, InferdError) and kind.code is not Code.INTERNAL:
        text = getattr(exc, "message", None)
        message = (text if isinstance(text, str) else str(exc))[:MAX_MESSAGE]
        reply = {"error": "inferd", "kind": kind.__name__, "attributes": {"message": message}}
        send_header(sock, reply)
        return
    traceback.print_exception(exc, file=sys.stderr)
    reply = {"error": "raised", "type": type(exc).__name__}
    if isinstance(exc, ModuleNotFoundError) and isinstance(exc.name, str):
        reply["module"] = exc.name  # what the model imports and is nowhere: named at its load
    send_header(sock, reply)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
