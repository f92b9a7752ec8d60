"""What a sandbox worker may not ask of the kernel: a seccomp filter.

The worker keeps the server's user, usually root, and shares the host's filesystem. Three things
the namespaces leave open are closed here, each call refused with EPERM:

- **Set-user-ID and set-group-ID files.** The scratch directories are the host's own (``/tmp``,
  ``/var/tmp``, ``/dev/shm``, ``$TMPDIR``): a trusted model could copy a shell there and
  ``chmod 4755`` it, a file owned by root with the set-user-ID bit, which any local user could
  run as root afterwards wherever the host mounts that directory without ``nosuid`` (no
  capability is needed to set the bit on a file one owns; ``no_new_privs`` binds the worker
  only). Refused: ``chmod``, ``fchmod``, ``fchmodat``, ``fchmodat2``, and a creating ``open``,
  ``openat``, ``creat``, ``mknod`` or ``mknodat``, whose mode holds either bit.
- **Unix sockets.** The network namespace has no interface and its own abstract socket names,
  but a socket file on the filesystem is reachable from any namespace: as root, the worker
  could connect to ``/run/docker.sock``, containerd's or systemd's private socket and run
  anything on the host. ``socket(AF_UNIX, …)`` is refused; ``socketpair`` (an event loop's
  self-pipe, ``multiprocessing.Pipe``) is not, since a pair connects to nothing else.

- **Its own CPU-time limit.** The server moves the model's ``RLIMIT_CPU`` before each call
  (:mod:`inferd.sandbox.cpu`); ``setrlimit(RLIMIT_CPU, …)`` and ``prlimit64`` setting it are
  refused, so the model cannot raise its soft limit to its (unlimited, where the server lacks
  CAP_SYS_RESOURCE) hard one. Reading it (``getrlimit``) and every other limit are left alone.

``openat2`` (its mode is in a structure a filter cannot read) and ``io_uring_setup``
(io_uring's operations pass no filter) are refused whole; Python and the libraries models use
do not need them. Calls of another architecture (a 32-bit program the model runs, x32) end the
process.

x86-64 and AArch64; elsewhere nothing is installed. Standard library only: it runs before the
worker imports numpy.
"""

from __future__ import annotations

import ctypes
import errno
import platform

PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
#: The mode bits refused.
SETID_BITS = 0o6000
#: The socket domain refused.
AF_UNIX = 1
#: The resource limit the model may not set: the server sets it (:mod:`inferd.sandbox.cpu`).
RLIMIT_CPU = 0

_LD_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JSET = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET = 0x06  # BPF_RET | BPF_K
_ALLOW = 0x7FFF0000
_KILL_PROCESS = 0x80000000
_REFUSE = 0x00050000 | errno.EPERM  # SECCOMP_RET_ERRNO
#: Offsets in ``struct seccomp_data``: nr, arch, then args[6] (64-bit, little-endian here).
_NR, _ARCH, _ARGS = 0, 4, 16
_X32_BIT = 0x40000000

#: Per machine: the number of ``setrlimit`` (None: none) and of ``prlimit64``.
_RLIMIT_CALLS: dict[str, tuple[int | None, int]] = {"x86_64": (160, 302), "aarch64": (None, 261)}
#: Per machine: the audit architecture, whether x32 calls exist, the number of ``socket``,
#: and each call refused by the index of its mode argument (None: whatever its arguments).
_CALLS: dict[str, tuple[int, bool, int, dict[int, int | None]]] = {
    "x86_64": (
        0xC000003E,
        True,
        41,
        {
            2: 2,  # open(path, flags, mode)
            85: 1,  # creat(path, mode)
            90: 1,  # chmod(path, mode)
            91: 1,  # fchmod(fd, mode)
            133: 1,  # mknod(path, mode, dev)
            257: 3,  # openat(dirfd, path, flags, mode)
            259: 2,  # mknodat(dirfd, path, mode, dev)
            268: 2,  # fchmodat(dirfd, path, mode)
            452: 2,  # fchmodat2(dirfd, path, mode, flags)
            437: None,  # openat2
            425: None,  # io_uring_setup
        },
    ),
    "aarch64": (
        0xC00000B7,
        False,
        198,
        {
            33: 2,  # mknodat
            52: 1,  # fchmod
            53: 2,  # fchmodat
            56: 3,  # openat
            452: 2,  # fchmodat2
            437: None,  # openat2
            425: None,  # io_uring_setup
        },
    ),
}


class _Instruction(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


class _Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_Instruction))]


def program(machine: str) -> list[tuple[int, int, int, int]] | None:
    """The filter for ``machine`` (``platform.machine()``) as (code, jt, jf, k) instructions;
    None for a machine without a table."""
    found = _CALLS.get(machine)
    if found is None:
        return None
    arch, x32, socket, calls = found
    setrlimit, prlimit = _RLIMIT_CALLS[machine]
    # (code, jump if true, jump if false, k), jumps by label ("": the next instruction).
    code: list[tuple[int, str, str, int]] = [
        (_LD_ABS, "", "", _ARCH),
        (_JEQ, "", "kill", arch),
        (_LD_ABS, "", "", _NR),
    ]
    if x32:
        code.append((_JGE, "kill", "", _X32_BIT))
    code += [(_JEQ, "refuse" if at is None else f"mode{at}", "", nr) for nr, at in calls.items()]
    code.append((_JEQ, "domain", "", socket))
    if setrlimit is not None:
        code.append((_JEQ, "setrlimit", "", setrlimit))
    code.append((_JEQ, "prlimit", "", prlimit))
    code.append((_RET, "", "", _ALLOW))  # any other call
    # BPF jumps forward only: each block testing a mode argument is followed by its answers.
    labels: dict[str, int] = {}
    for at in sorted({at for at in calls.values() if at is not None}):
        labels[f"mode{at}"] = len(code)
        code += [(_LD_ABS, "", "", _ARGS + 8 * at), (_JSET, "refuse", "allow", SETID_BITS)]
    labels["domain"] = len(code)
    code += [(_LD_ABS, "", "", _ARGS), (_JEQ, "refuse", "allow", AF_UNIX)]
    # setrlimit(resource, new); prlimit64(pid, resource, new, old): refused for RLIMIT_CPU
    # when a new limit is given (a NULL ``new`` only reads the limit: getrlimit).
    labels["setrlimit"] = len(code)
    code += [(_LD_ABS, "", "", _ARGS), (_JEQ, "refuse", "allow", RLIMIT_CPU)]
    labels["prlimit"] = len(code)
    code += [
        (_LD_ABS, "", "", _ARGS + 8),
        (_JEQ, "", "allow", RLIMIT_CPU),
        (_LD_ABS, "", "", _ARGS + 16),
        (_JEQ, "", "refuse", 0),
        (_LD_ABS, "", "", _ARGS + 20),
        (_JEQ, "allow", "refuse", 0),
    ]
    labels["allow"] = len(code)
    code.append((_RET, "", "", _ALLOW))
    labels["refuse"] = len(code)
    code.append((_RET, "", "", _REFUSE))
    labels["kill"] = len(code)
    code.append((_RET, "", "", _KILL_PROCESS))

    def jump(at: int, label: str) -> int:
        return labels[label] - at - 1 if label else 0

    return [(op, jump(i, jt), jump(i, jf), k) for i, (op, jt, jf, k) in enumerate(code)]


def install_filter(libc: ctypes.CDLL) -> bool:
    """Install the filter on this process (``no_new_privs`` must be set); False where this
    machine has no table. Raises OSError when the kernel refuses it."""
    instructions = program(platform.machine())
    if instructions is None:
        return False
    array = (_Instruction * len(instructions))(*(_Instruction(*i) for i in instructions))
    fprog = _Program(len(instructions), ctypes.cast(array, ctypes.POINTER(_Instruction)))
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        code = ctypes.get_errno()
        raise OSError(code, "seccomp filter refused", "prctl(PR_SET_SECCOMP)")
    return True
