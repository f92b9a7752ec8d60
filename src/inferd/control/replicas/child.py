"""A replica's process, started without ``fork()`` and watched from the event loop.

``inferd up`` runs on uvloop, whose subprocesses are libuv's: ``fork()`` then ``exec``. A fork
runs the fork handlers of gRPC's core (the gateway proxies gRPC calls from the same process)
in the child, and while gRPC's threads are busy those crash it before it runs anything
(SIGSEGV, or SIGABRT on "Check failed: next_worker->state == KICKED"). :func:`spawn` starts the
process with :class:`subprocess.Popen`, which uses ``vfork()`` (no fork handlers, no Python in
the child) when, as here, no pre-exec hook is given; its output is read through the loop, and
its exit is awaited from a thread of its own. The parent-death signal, which a pre-exec hook
would set, is set by the child itself, first thing after ``exec`` (:data:`ORPHAN_GUARD`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping

#: What each replica's process runs first (Linux), before ``exec`` makes it the replica's
#: command in the same process: asks the kernel for SIGTERM when ``inferd up`` dies without
#: draining (e.g. SIGKILL), so no replica outlives it; exits at once if it already died.
ORPHAN_GUARD = (
    "import ctypes, os, signal, sys; "
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM); "  # PR_SET_PDEATHSIG
    "os.getppid() == int(sys.argv[1]) or os._exit(0); "
    "os.execvp(sys.argv[2], sys.argv[2:])"
)


class Child:
    """A started process: its pid, its output, its exit."""

    def __init__(
        self,
        popen: subprocess.Popen[bytes],
        stdout: asyncio.StreamReader,
        pipe: asyncio.BaseTransport,
    ) -> None:
        self._popen = popen
        self._pipe = pipe
        self.pid = popen.pid
        #: Everything it writes, stdout and stderr together.
        self.stdout = stdout
        loop = asyncio.get_running_loop()
        self._exited: asyncio.Future[int] = loop.create_future()
        threading.Thread(target=self._reap, args=(loop,), name=f"wait-{self.pid}",
                         daemon=True).start()  # fmt: skip

    @property
    def returncode(self) -> int | None:
        """The exit status (negative: the signal), None while it runs."""
        return self._popen.returncode

    def send_signal(self, sig: signal.Signals) -> None:
        """Signal it, unless it has exited (its pid may be another process's by then)."""
        self._popen.send_signal(sig)

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    def close(self) -> None:
        """Stop reading its output (once it has exited and what it wrote has been read)."""
        self._pipe.close()

    def _reap(self, loop: asyncio.AbstractEventLoop) -> None:
        code = self._popen.wait()
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_settle, self._exited, code)


def _settle(future: asyncio.Future[int], code: int) -> None:
    if not future.done():
        future.set_result(code)


async def spawn(command: list[str], env: Mapping[str, str]) -> Child:
    """Start ``command`` in a session of its own (a Ctrl-C in the terminal reaches only
    ``inferd up``), stdin from /dev/null, stdout and stderr into one pipe. OSError if it cannot
    be started."""
    if sys.platform.startswith("linux"):
        command = [sys.executable, "-c", ORPHAN_GUARD, str(os.getpid()), *command]
    popen = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=dict(env),
        start_new_session=True,
    )
    assert popen.stdout is not None
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(loop=loop)
    try:
        pipe, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), popen.stdout
        )
    except BaseException:
        popen.kill()
        popen.wait()
        popen.stdout.close()
        raise
    return Child(popen, reader, pipe)
