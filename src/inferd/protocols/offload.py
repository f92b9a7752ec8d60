"""Decoding request bodies without stalling the event loop.

Decoding is CPU work proportional to the body: parsing JSON, building arrays, reading BYTES
length prefixes one by one. Measured before this module, a 4 MiB body of 1 Mi BYTES elements
took 0.36 s to decode on the event loop and delayed a concurrent ``/v2/health/live`` by 0.21 s.

The policy: a body of at most ``limits.inline_decode_bytes`` is decoded inline (a thread hop
costs more than decoding it); a larger one is decoded in a worker thread. Decoding holds the GIL
for most of its work, so threads bring no parallelism: their purpose is that the interpreter's
switch interval (1 ms in a server, see :func:`favour_the_event_loop`) hands the event loop the
GIL between slices of a big decode instead of after all of it. For the same reason each
:class:`Decoder` (one per protocol) runs at most ``_DECODE_THREADS`` decodes at once: every
thread waiting for the GIL is one more the event loop may have to queue behind. A single C call
does not yield the GIL at all: parsing an 8 MiB JSON body takes orjson about 50 ms at once and
numpy's conversion of its rows 20 ms more, which is why big tensors belong in the binary
extension.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import TypeVar

from inferd.config import LimitSettings

T = TypeVar("T")

#: Big bodies decoded at once per process; more would only lengthen the event loop's GIL waits.
_DECODE_THREADS = 1
#: How often a thread running Python code is asked to hand over the GIL, in a server process.
SWITCH_INTERVAL_S = 0.001


def favour_the_event_loop() -> None:
    """Set the interpreter's switch interval to :data:`SWITCH_INTERVAL_S` (Python's is 5 ms).

    The event loop asks for the GIL several times per request it answers (each socket callback,
    each task step); each time a thread running Python code (a BYTES decode, a runtime's
    pre-processing) keeps it up to a switch interval. Measured with ``bench/event_loop_stall.py``
    (20 clients sending 8 MiB BYTES bodies back to back): health p50 9.5 → 1.9 ms, p99 88 →
    22 to 25 ms; binary FP32 and JSON bodies, and the bodies answered per second, unchanged. The
    cost: a busy thread is interrupted up to 1,000 times a second instead of 200 (a few µs each).
    It does not shorten a single C call that holds the GIL (orjson, numpy, onnxruntime copying
    strings): those still hold the loop for as long as they run.
    """
    sys.setswitchinterval(SWITCH_INTERVAL_S)


class Decoder:
    """Runs decode functions inline or in a worker thread by body size (see the module doc).

    Create it anywhere; its semaphore is made on first use, inside the running event loop.
    """

    def __init__(self, limits: LimitSettings) -> None:
        self._inline_bytes = limits.inline_decode_bytes
        self._threads: asyncio.Semaphore | None = None

    async def decode(self, work: Callable[[], T], size: int) -> T:
        """``work()``, on the event loop when ``size`` is small, else in a worker thread."""
        if size <= self._inline_bytes:
            return work()
        if self._threads is None:
            self._threads = asyncio.Semaphore(_DECODE_THREADS)
        async with self._threads:
            return await asyncio.to_thread(work)
