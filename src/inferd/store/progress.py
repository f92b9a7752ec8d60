"""Progress reporting for transfers: the two callback shapes the store's functions take, and the
meter that turns the one into the other."""

from __future__ import annotations

import threading
from collections.abc import Callable

Progress = Callable[[int, int], None]
"""``progress(done, total)`` in bytes of one whole operation (push, pull, materialize, tag)."""

Count = Callable[[int], None]
"""``count(n)``: ``n`` more bytes were just moved (what a single copy or transfer reports)."""


class Meter:
    """A :data:`Count` that adds up what it is told and reports ``(done, total)`` to a
    :data:`Progress`. Thread-safe: parallel blob transfers may share one meter, and the
    reports are made under its lock, one at a time and in order, so a callback needs no lock
    of its own (a progress bar never sees ``done`` go backwards, nor two first calls at once).
    """

    def __init__(self, total: int, progress: Progress | None) -> None:
        self.total = total
        self.done = 0
        self._progress = progress
        self._lock = threading.Lock()

    def __call__(self, n: int) -> None:
        with self._lock:
            self.done += n
            if self._progress is not None:
                self._progress(self.done, self.total)
