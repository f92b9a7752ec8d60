"""Decoding request bodies without stalling the event loop.

Decoding is CPU work proportional to the body: parsing JSON, building arrays, reading BYTES
length prefixes one by one. Measured before this module, a 4 MiB body of 1 Mi BYTES elements
took 0.36 s to decode on the event loop and delayed a concurrent ``/v2/health/live`` by 0.21 s.

The policy: a body of at most ``limits.inline_decode_bytes`` is decoded inline (a thread hop
costs more than decoding it); a larger one is decoded in a worker thread. Decoding holds the GIL
for most of its work, so threads bring no parallelism: their purpose is that the interpreter's
switch interval hands the event loop the GIL between slices of a big decode instead of after all
of it. For the same reason each :class:`Decoder` (one per protocol) runs at most
``_DECODE_THREADS`` decodes at once: every thread waiting for the GIL is one more the event loop
may have to queue behind. A single C call does not yield the GIL at all: parsing an 8 MiB JSON
body takes orjson about 50 ms at once and numpy's conversion of its rows 20 ms more, which is why
big tensors belong in the binary extension, and why big JSON bodies go to a decoding process
(:mod:`inferd.protocols.decoding_process`), whose exchange the worker thread only waits on.

While a worker thread decodes, the switch interval is 1 ms instead of Python's 5 ms
(:mod:`inferd.switching`). Measured with ``bench/event_loop_stall.py`` (20 clients sending 8 MiB
BYTES bodies back to back): health p50 9.5 → 1.9 ms, p99 88 → 22 to 28 ms; binary FP32, JSON and
the bodies answered per second unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from inferd.config import LimitSettings
from inferd.serving.types import InferRequest
from inferd.switching import short_switch_interval

if TYPE_CHECKING:
    from inferd.protocols.decoding_process import DecodeJob

T = TypeVar("T")

#: Big bodies decoded at once per process; more would only lengthen the event loop's GIL waits.
_DECODE_THREADS = 1


class Decoder:
    """Runs decode functions inline, in a worker thread, or in the decoding process, by body
    size (see the module doc).

    Create it anywhere; its semaphore is made on first use, inside the running event loop.
    """

    def __init__(self, limits: LimitSettings) -> None:
        self._inline_bytes = limits.inline_decode_bytes
        self._process_bytes = limits.process_decode_bytes
        self._threads: asyncio.Semaphore | None = None

    async def decode(self, work: Callable[[], T], size: int) -> T:
        """``work()``, on the event loop when ``size`` is small, else in a worker thread."""
        if size <= self._inline_bytes:
            return work()
        return await self._in_thread(work)

    async def decode_body(
        self, job: DecodeJob, body: bytes | bytearray, *, parses: bool
    ) -> InferRequest:
        """``job(body=body)``: as :meth:`decode` does, except that a body the job ``parses``
        (JSON: not views of binary data) over ``limits.process_decode_bytes`` goes to the
        decoding process (:mod:`.decoding_process`), whose answer a worker thread waits for."""
        size = len(body)
        if self.inline(size, parses=parses):
            return job(body=body)
        if parses and 0 < self._process_bytes < size:
            # Imported here: most servers never see such a body, and start without it.
            from inferd.protocols.decoding_process import DECODING

            return await self._in_thread(partial(DECODING.decode, job, body))
        return await self._in_thread(partial(job, body=body))

    def inline(self, size: int, *, parses: bool) -> bool:
        """Whether :meth:`decode_body` decodes a body of ``size`` bytes on the event loop (a
        caller may then run the job itself, sparing the coroutine)."""
        return size <= self._inline_bytes and not (parses and 0 < self._process_bytes < size)

    async def _in_thread(self, work: Callable[[], T]) -> T:
        if self._threads is None:
            self._threads = asyncio.Semaphore(_DECODE_THREADS)
        async with self._threads:
            return await asyncio.to_thread(_with_short_interval, work)


def _with_short_interval(work: Callable[[], T]) -> T:
    with short_switch_interval():
        return work()
