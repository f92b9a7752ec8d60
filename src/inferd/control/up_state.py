"""How the CLI finds a running ``inferd up`` (``$INFERD_HOME/up.json`` and ``up.token``), and
stops it.

``up.json`` says where the admin API listens (loopback) and where the gateway is; ``up.token``
holds the admin bearer token, readable by its owner only (0600). Both are written atomically
at start and removed at exit; a file left by a process that died is recognised by its pid and
that process's start time, so a pid the kernel has given to another process since (in a
container restarted after ``docker kill``, the next ``inferd up`` itself) is not taken for it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import orjson

from inferd.errors import AlreadyExists
from inferd.protocols.v2.auth import write_private

STATE_FILE = "up.json"
TOKEN_FILE = "up.token"  # noqa: S105 - a file name, not a secret
#: Locked by the ``inferd up`` of a store from before it starts anything until it has stopped.
LOCK_FILE = "up.lock"


@dataclass(frozen=True, slots=True)
class UpState:
    pid: int
    admin_host: str
    admin_port: int
    gateway_url: str
    #: The spec file ``inferd up`` started with, absolute (``inferd cost recommend`` reads it
    #: from wherever it runs).
    spec: str
    started_at: float
    #: Where the gateway serves gRPC (``host:port``); empty in files from before it did.
    gateway_grpc: str = ""
    #: When process ``pid`` started, in clock ticks since boot (``/proc/PID/stat``); None
    #: without ``/proc``, and in files from before it was written.
    pid_start: int | None = None


@contextlib.contextmanager
def up_lock(home: Path) -> Iterator[None]:
    """Hold the store's ``up.lock`` while the block runs; AlreadyExists if another ``inferd
    up`` holds it (one starting, before its ``up.json`` is written, or one stopping). The
    kernel lets it go when the process ends, however it ends."""
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(home / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyExists(
                "another inferd up is starting or stopping for this store; use `inferd apply "
                "FILE` once it runs (inferd ps)"
            ) from None
        yield
    finally:
        os.close(fd)


def write_state(home: Path, state: UpState, token: str) -> None:
    """Write the token (0600) and then the state, each atomically (with when ``state.pid``
    started, if it does not say)."""
    if state.pid_start is None:
        state = replace(state, pid_start=_started(state.pid))
    home.mkdir(parents=True, exist_ok=True)
    write_private(home / TOKEN_FILE, (token + "\n").encode())
    write_private(home / STATE_FILE, orjson.dumps(asdict(state), option=orjson.OPT_INDENT_2))


def read_state(home: Path) -> tuple[UpState, str] | None:
    """The running ``inferd up`` and its token, or None when none runs for this home."""
    try:
        raw = orjson.loads((home / STATE_FILE).read_bytes())
        token = (home / TOKEN_FILE).read_text(encoding="utf-8").strip()
        state = UpState(**raw)
    except (OSError, ValueError, TypeError):
        return None
    started = _started(state.pid) if state.pid_start is not None else None
    if not _alive(state.pid) or started not in (None, state.pid_start):
        return None
    return state, token


def clear_state(home: Path, pid: int) -> None:
    """Remove the files if they are ``pid``'s (a newer ``inferd up`` may have replaced them)."""
    current = read_state(home)
    if current is not None and current[0].pid != pid:
        return
    for name in (STATE_FILE, TOKEN_FILE):
        with contextlib.suppress(FileNotFoundError):
            (home / name).unlink()


def _started(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot; None when it cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[-1].split()[19])  # field 22, starttime
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    """Running, and not a zombie: a process that exited stays in the process table until its
    parent reaps it (a shell at once; a script that started it only when it waits)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc here: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # alive, owned by someone else
            return True
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


@dataclass(frozen=True, slots=True)
class Stopped:
    """How a stop went: after ``seconds``, by its own drain, or ``killed`` at the timeout."""

    seconds: float
    killed: bool


def stop(pid: int, timeout_s: float, *, poll_s: float = 0.1) -> Stopped:
    """SIGTERM ``inferd up`` (it drains as at Ctrl-C) and wait for it to exit; SIGKILL it once
    ``timeout_s`` has passed, as ``docker stop`` does (its replicas die with it: they hold a
    parent-death signal)."""
    started = time.monotonic()
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    killed = False
    while _alive(pid):
        if not killed and time.monotonic() - started >= timeout_s:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            killed = True
        time.sleep(poll_s)
    return Stopped(time.monotonic() - started, killed)
