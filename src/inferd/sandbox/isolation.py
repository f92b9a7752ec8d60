"""What a sandbox worker does to itself before it imports numpy or any user code.

In order, while the process is still single-threaded:

1. **No network, and a PID namespace of its own.** ``unshare(CLONE_NEWNET | CLONE_NEWNS |
   CLONE_NEWPID)`` gives the worker a network namespace holding only a loopback interface that
   is down (every connect, to the internet, to the server's loopback ports, to abstract Unix
   sockets, fails), and splits it into a keeper, a namespace init and the model's process
   (:mod:`inferd.sandbox.pidns`): the model sees, signals and traces only its own processes,
   at most ``Limits.max_processes`` of them with their threads (the namespace's ``pid_max``,
   where the kernel keeps one per namespace: Linux 6.14).
2. **A read-only filesystem, without the store.** In a private mount namespace
   (``CLONE_NEWNS``, propagation private so nothing leaks back to the host) a ``/proc`` of the
   new PID namespace is mounted, then every mount is made read-only
   (``mount_setattr``, recursive; mount by mount before Linux 5.12) but the scratch
   directories (:data:`SCRATCH`, ``$TMPDIR``), left as writable as they were (a read-only
   mount below one stays read-only), and the model directory is bind-mounted onto
   itself and remounted read-only, nosuid, nodev. The worker runs as the server's user, often
   root, who owns the system's files and needs no capability to write them: without this, a
   model could rewrite inferd's own code, the keys file or ``/etc``. We chose read-only
   mounts over file modes (the store's 0444) because root ignores file modes; a read-only
   mount binds root too. It costs nothing: no copy, and it disappears with the process.
   The store and ``$INFERD_HOME`` are then covered by an empty tmpfs, the model's own
   directory bound back (:mod:`inferd.sandbox.views`): no other model's files, keys file,
   control token or audit log to read.
3. **No capabilities.** The bounding, ambient, effective, permitted and inheritable sets are
   emptied and ``no_new_privs`` is set, so the code cannot undo 1 and 2 (``setns`` into the
   host's namespaces and remounting need CAP_SYS_ADMIN) nor gain privileges through exec.
4. **Not dumpable** (``PR_SET_DUMPABLE`` 0). Workers share the server's user and, with no
   capabilities, each other's credentials: without this, one model's code could open another
   model's ``/proc/<pid>/mem`` (its weights, the inputs other clients sent it) or ptrace it.
   No core file is written either.
5. **No set-user-ID files, no Unix sockets, no CPU-time limit of its own**
   (:mod:`inferd.sandbox.syscalls`, a seccomp filter, with the namespaces): the scratch
   directories are the host's, where a root-owned file given the set-user-ID bit would run as
   root for any local user, a socket file (Docker's, systemd's) is reachable from any network
   namespace, and RLIMIT_CPU is the server's to move (:mod:`inferd.sandbox.cpu`).
6. **Resource limits** (``setrlimit``): address space (RLIMIT_AS), open files (RLIMIT_NOFILE),
   no core files; CPU time (RLIMIT_CPU) is set before each call by the server.

Steps 1 to 3 need CAP_SYS_ADMIN (root, or a container granted it). Where the kernel refuses,
:func:`isolate` raises :class:`IsolationRefused` unless the operator allowed running without
(``sandbox.allow_unisolated``); the worker then runs with only steps 4 and 6. What stays
as it was: the worker keeps the server's uid, so the rest of the filesystem keeps its usual
permissions (run the server as a dedicated user).

Standard library only: this runs before anything that could start a thread.
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from inferd.sandbox import pidns, views
from inferd.sandbox.linux import (
    CLONE_NEWNET,
    CLONE_NEWNS,
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
    PR_CAP_AMBIENT,
    PR_CAP_AMBIENT_CLEAR_ALL,
    PR_CAPBSET_DROP,
    PR_SET_DUMPABLE,
    PR_SET_NO_NEW_PRIVS,
)
from inferd.sandbox.syscalls import install_filter

#: mount_setattr(2) (Linux 5.12; the same number on every architecture) and its arguments.
SYS_MOUNT_SETATTR = 442
AT_FDCWD = -100
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1
#: Left writable in the worker (with ``$TMPDIR``): the scratch space libraries expect.
SCRATCH = ("/tmp", "/var/tmp", "/dev/shm")  # noqa: S108 - left writable, never written here
_CAPABILITY_VERSION_3 = 0x20080522


class IsolationRefused(Exception):
    """The platform did not allow the namespaces or the capability drop."""


@dataclass(frozen=True, slots=True)
class Limits:
    """What the worker applies to itself (from ``SandboxSettings``, sent on its command line)."""

    #: RLIMIT_AS in bytes; None leaves it unlimited.
    address_space_bytes: int | None
    #: RLIMIT_NOFILE (soft and hard).
    open_files: int
    #: Run without namespaces where the platform refuses them (resource limits still apply).
    allow_unisolated: bool
    #: Processes and threads the model may run at once, in its PID namespace
    #: (:func:`inferd.sandbox.pidns.cap_processes`); None: not capped.
    max_processes: int | None = None


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def isolate(root: Path, limits: Limits, hidden: Sequence[str] = (), sock: int = -1) -> bool:
    """Isolate this process (see the module docstring); True when the namespaces are in place.

    ``hidden``: the directories the model may not see (``$INFERD_HOME``), but for what of
    ``root`` and of the Python it runs lies under them; ``sock``: the worker's socket, which
    only the model's process keeps (:func:`inferd.sandbox.pidns.enter`).

    Raises IsolationRefused when they cannot be set up and ``limits.allow_unisolated`` is off.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        pidns.enter(libc, lambda flags: _unshare(libc, flags), CLONE_NEWNET | CLONE_NEWNS, sock)
        _mount(libc, None, "/", MS_REC | MS_PRIVATE)
        pidns.mount_proc(libc)  # made read-only below with the rest
        if limits.max_processes is not None:
            _cap_processes(limits.max_processes)
        _read_only(libc, root)
        views.hide(libc, root, hidden)
        _drop_capabilities(libc)
        isolated = True
    except OSError as exc:
        if not limits.allow_unisolated:
            raise IsolationRefused(
                f"{exc.strerror or exc} ({exc.filename or 'namespaces'}); trusted code runs "
                "only without network, in a PID namespace of its own, with a read-only model "
                "directory and no view of the store's other files, which needs CAP_SYS_ADMIN: "
                "run the server as root or grant the capability, or set "
                "sandbox.allow_unisolated (INFERD_SANDBOX__ALLOW_UNISOLATED=true) to run "
                "it without that isolation"
            ) from None
        isolated = False
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    _check(libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "prctl(PR_SET_DUMPABLE)")
    if isolated:
        try:
            install_filter(libc)
        except OSError as exc:
            if not limits.allow_unisolated:
                raise IsolationRefused(
                    f"{exc.strerror or exc} ({exc.filename}); trusted code runs only where "
                    "it can neither make set-user-ID files nor reach Unix sockets, which needs "
                    "seccomp filters, or set "
                    "sandbox.allow_unisolated (INFERD_SANDBOX__ALLOW_UNISOLATED=true) to run "
                    "it without that isolation"
                ) from None
            isolated = False
    _apply_limits(limits)
    return isolated


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), what)


def _unshare(libc: ctypes.CDLL, flags: int) -> None:
    unshare = getattr(os, "unshare", None)  # Python 3.12+
    if unshare is not None:
        unshare(flags)
    else:
        _check(libc.unshare(flags), "unshare")


def _mount(libc: ctypes.CDLL, source: str | None, target: str, flags: int) -> None:
    encoded = source.encode() if source is not None else None
    _check(libc.mount(encoded, target.encode(), None, flags, None), f"mount {target}")


def _cap_processes(limit: int) -> None:
    """Cap the namespace's processes (:func:`inferd.sandbox.pidns.cap_processes`); where the
    kernel refuses, say so in the server's log and run on without the cap, as on a kernel
    that has none."""
    try:
        pidns.cap_processes(limit)
    except OSError as exc:
        print(f"inferd sandbox: the model's processes are not capped: {exc}", file=sys.stderr)


def _read_only(libc: ctypes.CDLL, root: Path) -> None:
    # Scratch is left as writable as it was, never more: a scratch directory on a read-only
    # mount stays read-only, and so does a read-only mount below one (a Kubernetes secret, a
    # ``docker -v …:ro`` volume under /tmp), which clearing the flag recursively made writable.
    scratch = [p for p in _scratch() if not os.statvfs(p).f_flag & os.ST_RDONLY]
    kept = [p for p in _read_only_mounts() if any(_is_under(p, s) for s in scratch)]
    for path in scratch:  # each its own mount, so that it can stay writable
        _mount(libc, path, path, MS_BIND | MS_REC)
    for point, writable in [("/", False)] + [(path, True) for path in scratch]:
        _set_read_only(libc, point, read_only=not writable)
    for point in kept:
        if Path(point).exists():  # else shadowed or deleted: no path reaches it to write
            _set_read_only(libc, point, read_only=True)
    if not os.statvfs("/").f_flag & os.ST_RDONLY:
        raise OSError(0, "the root filesystem is still writable", "mount")
    _mount(libc, str(root), str(root), MS_BIND | MS_REC)
    _mount(libc, None, str(root), MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    if not os.statvfs(root).f_flag & os.ST_RDONLY:
        raise OSError(0, "the model directory is still writable", "mount")


def _scratch() -> list[str]:
    """The directories left writable (:data:`SCRATCH` and ``$TMPDIR``, as real paths)."""
    wanted = [*SCRATCH, os.environ.get("TMPDIR", SCRATCH[0])]
    paths = dict.fromkeys(os.path.realpath(p) for p in wanted if Path(p).is_dir())
    return [p for p in paths if p != "/"]


def _mount_points() -> list[tuple[str, list[str]]]:
    """Every mount of this namespace: its mount point and its own options (``ro``, …)."""
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        mounts.append((fields[4].encode().decode("unicode_escape"), fields[5].split(",")))
    return mounts


def _read_only_mounts() -> list[str]:
    """The mount points whose mount is read-only now."""
    return [point for point, options in _mount_points() if "ro" in options]


def _is_under(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def _set_read_only(libc: ctypes.CDLL, point: str, *, read_only: bool) -> None:
    """Make the mount at ``point`` and every mount below it read-only, or writable again."""
    attr = _MountAttr(*((MOUNT_ATTR_RDONLY, 0) if read_only else (0, MOUNT_ATTR_RDONLY)), 0, 0)
    result = libc.syscall(
        ctypes.c_long(SYS_MOUNT_SETATTR), ctypes.c_int(AT_FDCWD), point.encode(),
        ctypes.c_uint(AT_RECURSIVE), ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)),
    )  # fmt: skip
    if result == 0 or ctypes.get_errno() != errno.ENOSYS:
        _check(result, f"mount_setattr {point}")
        return
    # Linux before 5.12: remount each mount under ``point`` on its own, keeping its flags.
    for target, _ in _mount_points():
        if not _is_under(target, point):
            continue
        kept = os.statvfs(target).f_flag & (os.ST_NOSUID | os.ST_NODEV | os.ST_NOEXEC)
        flags = MS_REMOUNT | MS_BIND | (MS_RDONLY if read_only else 0)
        flags |= (MS_NOSUID if kept & os.ST_NOSUID else 0) | (MS_NODEV if kept & os.ST_NODEV else 0)
        flags |= MS_NOEXEC if kept & os.ST_NOEXEC else 0
        _mount(libc, None, target, flags)


def _drop_capabilities(libc: ctypes.CDLL) -> None:
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    for cap in range(last + 1):
        _check(libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "prctl(PR_CAPBSET_DROP)")
    _check(libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "prctl(PR_CAP_AMBIENT)")
    header = _CapHeader(_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(libc.capset(ctypes.byref(header), data), "capset")


def _apply_limits(limits: Limits) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    files = limits.open_files if hard == resource.RLIM_INFINITY else min(limits.open_files, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))
    if limits.address_space_bytes is not None:
        size = limits.address_space_bytes
        resource.setrlimit(resource.RLIMIT_AS, (size, size))
