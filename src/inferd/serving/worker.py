"""The thread a model version runs on: loads, warm-up and batches, one at a time, off the loop.

One thread per version keeps a model on the thread that loaded it and gives liveness something
real to watch: if the thread dies, :attr:`ModelWorker.alive` says so.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from inferd.errors import Unavailable

T = TypeVar("T")
Done = Callable[[Any, BaseException | None], None]

log = logging.getLogger(__name__)

_Job = tuple[Callable[[], Any], asyncio.AbstractEventLoop, Done]


class ModelWorker:
    """Runs callables in submission order on one daemon thread; results return to the loop."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=f"inferd-{name}", daemon=True)
        self._stopped = False
        #: Set by the thread as it ends, however it ends (read on every request: a flag, where
        #: ``Thread.is_alive`` takes a lock).
        self._ended = False
        self._thread.start()

    @property
    def alive(self) -> bool:
        """True while the thread runs; False once it ended (stopped, or died)."""
        return not self._ended

    def submit(self, fn: Callable[[], Any], loop: asyncio.AbstractEventLoop, done: Done) -> None:
        """Run ``fn`` on the thread, then call ``done(result, error)`` on ``loop``'s thread.

        ``done`` gets ``(result, None)`` or ``(None, exception)``; nothing is scheduled on the
        loop besides that one callback, so the hot path creates no task or coroutine.
        """
        if self._stopped or self._ended:
            # Nothing would ever run the job: answer at once rather than leave a waiter hanging.
            loop.call_soon(done, None, Unavailable("the model's worker thread has stopped"))
            return
        self._jobs.put((fn, loop, done))

    def run(self, fn: Callable[[], T]) -> asyncio.Future[T]:
        """Run ``fn`` on the thread and await its result (for loads, warm-ups, closes)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def settle(result: Any, error: BaseException | None) -> None:
            if future.done():  # the awaiting caller was cancelled meanwhile
                return
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)

        self.submit(fn, loop, settle)
        return future

    def stop(self) -> None:
        """Finish the jobs already submitted, then end the thread (does not wait for it)."""
        if not self._stopped:
            self._stopped = True
            self._jobs.put(None)

    def _serve(self) -> None:
        try:
            self._run_jobs()
        finally:
            self._ended = True

    def _run_jobs(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, loop, done = job
            result: Any = None
            error: BaseException | None = None
            try:
                result = fn()
            except BaseException as exc:  # the thread must survive anything a model raises
                error = exc
            try:
                loop.call_soon_threadsafe(done, result, error)
            except RuntimeError:
                # The loop closed under us (process shutting down); nobody waits for this result.
                log.debug("event loop closed before a model job reported back")
