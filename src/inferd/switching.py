"""A short GIL switch interval, held only while a thread does big Python work.

The event loop asks for the GIL several times per request it answers (each socket callback,
each task step), and each time a thread running Python code keeps it up to the interpreter's
switch interval (5 ms by default) before it must let go. While a worker thread decodes a big
body, or serialises a big BYTES tensor for a worker process, the interval is
:data:`SHORT_SWITCH_INTERVAL_S` (1 ms) instead. It is not set for the whole process: a 1 ms
interval there cost ``bench/serve_bench.py`` 2 to 9 % (tabular, one core: the event loop and the
model thread then preempt each other five times as often), and small requests gain nothing.

The setting is process-wide and such work may overlap: the interval is set by the first and
restored by the last, each in the thread doing the work, so work whose request was cancelled
keeps it for as long as it still runs.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: The interpreter's switch interval while big Python work runs off the event loop.
SHORT_SWITCH_INTERVAL_S = 0.001


class _ShortInterval:
    """The count of threads doing big work, and the interval to restore after the last."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._saved = 0.0

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._lock:
            if not self._running:
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(SHORT_SWITCH_INTERVAL_S)
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                if not self._running:
                    sys.setswitchinterval(self._saved)


#: ``with short_switch_interval():`` holds :data:`SHORT_SWITCH_INTERVAL_S` for its body.
short_switch_interval = _ShortInterval().held
