"""Stopping the parallel blob transfers of one push or pull, promptly, when it is abandoned.

A push or pull moves its blobs in a pool of threads (:func:`run_all`). When the caller stops
waiting (Ctrl-C raises KeyboardInterrupt in the main thread) or one blob fails, the others
must stop too, not run to completion: Python cannot interrupt a thread, so each transfer
cooperates with a :class:`Cancellation`:

- between the pieces it reads or sends, and in its retry back-offs, it checks the flag and
  raises :class:`~inferd.errors.Cancelled`, leaving its temporary file to be removed as on any
  failure;
- a download also registers its connection (:meth:`Cancellation.watching`), which cancelling
  shuts down: a read blocked on a registry that sends nothing wakes at once, where it would
  otherwise wait for the network timeout.

The pool is waited for before the failure propagates, so when it does no thread of the
transfer is still writing. A connection being opened, or an upload's wait for the registry's
answer once every byte was sent, is not interrupted (the network timeouts bound them).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import TypeVar

import httpx

from inferd.errors import Cancelled

T = TypeVar("T")
R = TypeVar("R")


class Cancellation:
    """A flag the transfers of one push or pull share; set once, never cleared."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()

    def cancel(self) -> None:
        """Set the flag and shut down the connections being read from."""
        with self._lock:
            self._event.set()
            for sock in self._sockets:
                with contextlib.suppress(OSError):  # already closed by its own thread
                    sock.shutdown(socket.SHUT_RDWR)

    def check(self) -> None:
        """Raise :class:`Cancelled` once the flag is set."""
        if self._event.is_set():
            raise Cancelled("the transfer was cancelled")

    def sleep(self, seconds: float) -> None:
        """A retry back-off that ends early, raising :class:`Cancelled`, when the flag is set."""
        if self._event.wait(seconds):
            self.check()

    @contextlib.contextmanager
    def watching(self, response: httpx.Response) -> Iterator[None]:
        """While the block reads ``response``'s body, cancelling shuts its connection down."""
        stream = response.extensions.get("network_stream")
        sock = None if stream is None else stream.get_extra_info("socket")
        if not isinstance(sock, socket.socket):  # not a plain connection: checks only
            yield
            return
        with self._lock:
            self.check()
            self._sockets.add(sock)
        try:
            yield
        finally:
            with self._lock:
                self._sockets.discard(sock)


def run_all(
    work: Callable[[T, Cancellation], R], items: Sequence[T], *, parallelism: int, name: str
) -> list[R]:
    """``work(item, cancellation)`` for every item on ``parallelism`` threads; the results in
    order. The first failure, or a KeyboardInterrupt while waiting, cancels the rest; it
    propagates once every thread has stopped."""
    cancellation = Cancellation()
    pool = ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix=name)
    try:
        futures = [pool.submit(work, item, cancellation) for item in items]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for future in futures:  # nothing is cancelled yet: each failure here is a real one
            error = future.exception() if future in done else None
            if error is not None:
                raise error
        return [future.result() for future in futures]
    except BaseException:
        cancellation.cancel()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
