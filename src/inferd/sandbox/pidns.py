"""The worker's PID namespace: the model sees and signals only the processes it started.

``unshare(CLONE_NEWPID)`` moves the children of the caller into a new PID namespace, never the
caller itself, so the worker process the server started (the *keeper*) splits in three:

- the **keeper**, the process the server started and waits for, stays in the server's PID
  namespace and runs no model code: it forks the namespace's init, waits for it, and exits as
  the model's process did (the same status, the same signal: what the server reports as
  "ran out of memory", "used up its CPU-time limit", "crashed"). It ends the whole namespace
  (SIGKILL to its init) once the server that started it is gone without closing it;
- the namespace's **init** (pid 1 there) forks the model's process, then reaps: every
  process the model forks and leaves behind is reparented to it and reaped, not left a
  zombie. When the model's process ends, init sends its status to the keeper and exits;
  the kernel then kills every process left in the namespace, those that left the worker's
  process group (``setsid``) included. Init is not dumpable and keeps its capabilities, so
  the model's process, which drops every capability, can neither ptrace nor read it;
- the **model's process** (pid 2 there) returns from :func:`enter` and goes on isolating
  itself (:func:`inferd.sandbox.isolation.isolate`): it mounts a ``/proc`` of the new
  namespace, in which no process of the server's is listed, and runs the model.

The namespace's processes and threads are capped (:func:`cap_processes`, Linux 6.14 and later):
its own ``pid_max``, set before ``/proc`` is made read-only and the capabilities are dropped,
bounds what the model runs at once, so a fork bomb takes none of the host's pids beyond it.

The server's pids are out of the model's reach: ``kill``, ``ptrace`` or
``/proc/<pid>/environ`` of any of them name nothing in its namespace. The model does not run
as pid 1, whose default signal actions the kernel ignores (SIGXCPU at the CPU-time limit).

Standard library only: this runs before the worker imports numpy.
"""

from __future__ import annotations

import ctypes
import os
import resource
import select
import signal
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from inferd.sandbox.linux import (
    CLONE_NEWPID,
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_RDONLY,
    PR_SET_DUMPABLE,
    PR_SET_PDEATHSIG,
)


class Namespace:
    """Whether this process runs in a PID namespace :func:`enter` made (the model's process),
    and the cap on its processes (:func:`cap_processes`; None: not capped)."""

    entered = False
    max_processes: int | None = None


#: How many processes and threads the model's namespace may hold at once (its init and the
#: model's process included): enough for any thread pool and process pool a model runs, a
#: small share of the host's pids (32768 on a default kernel with few CPUs).
MAX_PROCESSES = 4096
#: The pids a namespace skips once its numbers wrap (the kernel's RESERVED_PIDS): ``pid_max``
#: is set this far above the cap, so that it holds after a wrap too (300 more before one).
RESERVED_PIDS = 300
#: The kernel function that keeps a ``pid_max`` per PID namespace (Linux 6.14).
_PER_NAMESPACE_PID_MAX = b" register_pidns_sysctls\n"


#: How often the keeper looks whether the server that started it is still its parent.
PARENT_CHECK_S = 0.5


def enter(libc: ctypes.CDLL, unshare: Callable[[int], None], flags: int, close: int) -> None:
    """Unshare ``flags`` with a new PID namespace and return in the model's process, inside it.

    Raises OSError, before anything is forked, when the kernel refuses the namespaces. The
    keeper and init never return; they close the descriptor ``close`` (the worker's socket,
    which only the model's process answers on: the server sees its end when that one ends).
    """
    unshare(flags | CLONE_NEWPID)
    read_end, write_end = os.pipe()
    init = os.fork()
    if init != 0:
        os.close(close)
        os.close(write_end)
        _never_returning(_keep, init, read_end)
    model = os.fork()  # pid 1 of the namespace, forking pid 2
    if model != 0:
        os.close(close)
        os.close(read_end)
        _never_returning(_init, libc, model, write_end)
    os.close(read_end)
    os.close(write_end)
    Namespace.entered = True


def _never_returning(role: Callable[..., NoReturn], *args: object) -> NoReturn:
    """Run the keeper's or init's ``role``; should it raise, exit: it must never return into
    the worker's code, which would then serve as that process, outside the model's
    namespace (a keeper whose exit raised ran on as an unisolated worker)."""
    try:
        role(*args)
    finally:
        os._exit(1)


def _keep(init: int, statuses: int) -> NoReturn:
    """The keeper: wait for init, then end as the model's process ended. Init is killed (and
    the namespace with it) once the server that started the keeper is gone without closing it
    (SIGKILL, the OOM killer): a hung predict would otherwise run on under the host's init.

    No thread: a process that unshared a PID namespace cannot start one. It waits on pidfds of
    the server and of init, or looks every :data:`PARENT_CHECK_S` where there are none."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash shown again writes no core
    server = os.getppid()
    poller = select.poll()
    try:
        for pid in (server, init):
            poller.register(os.pidfd_open(pid), select.POLLIN)
        wait_ms: float | None = None
    except OSError:  # Linux before 5.3
        wait_ms = PARENT_CHECK_S * 1000
    while True:
        pid, status = os.waitpid(init, os.WNOHANG)
        if pid == init:
            break
        if os.getppid() != server:
            os.kill(init, signal.SIGKILL)
            _, status = os.waitpid(init, 0)
            break
        poller.poll(wait_ms)
    reported = os.read(statuses, 32)
    if reported.strip().isdigit():
        status = int(reported)
    _exit_as(status)


def _exit_as(status: int) -> NoReturn:
    """Exit with the wait ``status`` of another process: its code, or killed by its signal."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig not in (signal.SIGKILL, signal.SIGSTOP):  # no handler can be set (EINVAL)
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)  # a signal that does not end a process by default
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)


def _init(libc: ctypes.CDLL, model: int, statuses: int) -> NoReturn:
    """Pid 1: reap every process of the namespace; report the model's process's end."""
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # the keeper killed: end it all
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # ignored by a namespace's init
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except InterruptedError:  # pragma: no cover - PEP 475 retries
            continue
        except ChildProcessError:  # pragma: no cover - the model's process is reaped below
            os._exit(1)
        if pid == model:
            os.write(statuses, str(status).encode())
            os._exit(0)


def per_namespace_pid_max() -> bool:
    """Whether this kernel keeps a ``pid_max`` per PID namespace (Linux 6.14 and later: it bounds
    the pids of that namespace alone). Told by its function in ``/proc/kallsyms``, never by a
    write: on a kernel without it, ``/proc/sys/kernel/pid_max`` is the host's, and lowering it
    would starve every process of the host."""
    try:
        with Path("/proc/kallsyms").open("rb") as symbols:
            return any(line.endswith(_PER_NAMESPACE_PID_MAX) for line in symbols)
    except OSError:
        return False


def cap_processes(limit: int) -> None:
    """Cap the processes and threads of this PID namespace at ``limit`` (its ``pid_max``): a
    fork or thread past it fails with EAGAIN, a fork bomb takes no pid of the host's beyond
    it. Only in a namespace :func:`enter` made, on a kernel :func:`per_namespace_pid_max`
    approved, with ``/proc`` of the namespace mounted and still writable (it is made
    read-only next, and the model holds no capability to mount another). Raises OSError."""
    if not Namespace.entered:
        raise OSError(0, "not in a PID namespace of its own: pid_max would be the host's")
    Path("/proc/sys/kernel/pid_max").write_text(str(limit + RESERVED_PIDS))
    Namespace.max_processes = limit


def full() -> bool:
    """Whether this namespace has no pid left to give: a fork fails with EAGAIN now."""
    try:
        pid = os.fork()
    except BlockingIOError:
        return True
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return False


def mount_proc(libc: ctypes.CDLL) -> None:
    """Mount a ``/proc`` of this PID namespace over the host's (in a private mount namespace),
    masking again what the host's masked: a container runtime covers ``/proc/kcore``,
    ``/proc/keys``, ``/proc/timer_list``… with ``/dev/null`` and ``/proc/acpi``… with an
    empty tmpfs, which a fresh ``/proc`` would show again. Raises OSError."""
    masks = [(point, Path(point).is_dir()) for point in _masked()]
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    _check(libc, libc.mount(b"proc", b"/proc", b"proc", flags, None), "mount /proc")
    for point, directory in masks:
        if not os.path.lexists(point):
            continue  # not in this kernel's /proc
        target = point.encode()
        if directory:
            done = libc.mount(b"tmpfs", target, b"tmpfs", flags | MS_RDONLY, b"size=0")
        else:
            done = libc.mount(b"/dev/null", target, None, MS_BIND, None)
        _check(libc, done, f"mount {point}")


def _masked() -> list[str]:
    """The mount points below ``/proc`` of another file system than proc (masks)."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        point = fields[4].encode().decode("unicode_escape")
        kind = fields[fields.index("-") + 1]
        if point.startswith("/proc/") and kind != "proc":
            found.append(point)
    return found


def _check(libc: ctypes.CDLL, result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), what)
