"""The event-loop side of one generation: what the engine thread delivers, read as a
:class:`~inferd.generation.Generation`.

The engine calls :meth:`TokenStream.deliver` (through ``call_soon_threadsafe``) with chunks and
then one ending; the reader iterates. Closing the iterator before the end, or :meth:`cancel`,
sets a flag the engine reads at its next step, which frees the sequence's slot.
:class:`StopScan` finds stop strings and says how much of the text the engine keeps back.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from inferd.errors import InferdError
from inferd.generation import Chunk, FinishReason


@dataclass(frozen=True, slots=True)
class Ended:
    """The last thing a stream receives: a finish reason, or the error that stopped it."""

    reason: FinishReason | None
    error: InferdError | None = None


class TokenStream:
    """One generation's chunks, as the event loop reads them."""

    def __init__(self, loop: asyncio.AbstractEventLoop, wake: Callable[[], None]) -> None:
        self._loop = loop
        self._wake = wake
        self._queue: asyncio.Queue[Chunk | Ended] = asyncio.Queue()
        self._cancelled = threading.Event()
        self._ended: Ended | None = None
        #: Filled in by the engine (read after the end, or for metrics).
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cached_tokens = 0
        self.tokens_after_cancel = 0

    # -- engine thread -------------------------------------------------------------------------

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def deliver(self, item: Chunk | Ended) -> None:
        """Hand ``item`` to the reader (any thread). A reader whose event loop has closed is
        gone: nothing is delivered, and the engine goes on with the others."""
        if self._loop.is_closed():
            self._cancelled.set()
            return
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # closed between the check and the call
            self._cancelled.set()

    # -- event loop ----------------------------------------------------------------------------

    @property
    def finish_reason(self) -> FinishReason | None:
        return self._ended.reason if self._ended is not None else None

    def cancel(self) -> None:
        if self._ended is None and not self._cancelled.is_set():
            self._cancelled.set()
            self._wake()

    async def __aiter__(self) -> AsyncIterator[Chunk]:
        try:
            while self._ended is None:
                item = await self._queue.get()
                if isinstance(item, Ended):
                    self._ended = item
                    if item.error is not None:
                        raise item.error
                    return
                yield item
        finally:
            if self._ended is None:
                self.cancel()


class StopScan:
    """Finds ``stop`` strings in text that arrives piece by piece, in time linear in the text
    (Knuth-Morris-Pratt: per stop string, the length of the longest end of the text so far that
    begins it), and says how much of the text's end to hold back, unsent, for it could begin
    one. A plain search of the held text for every length of every stop string was quadratic
    in it: long stop strings, nearly matched, slowed the whole engine."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self._stops = stops
        self._fail = [_failure(stop) for stop in stops]
        self._state = [0] * len(stops)

    @property
    def held(self) -> int:
        """Characters at the end of the text so far that could begin a stop string."""
        return max(self._state, default=0)

    def feed(self, piece: str) -> int:
        """Read ``piece``, the text's next characters: how many characters from the end of
        the text (``piece`` included) the earliest stop string found begins, or -1."""
        back = -1
        for i, stop in enumerate(self._stops):
            fail, k = self._fail[i], self._state[i]
            for at, char in enumerate(piece):
                while k and stop[k] != char:
                    k = fail[k - 1]
                if stop[k] == char:
                    k += 1
                if k == len(stop):
                    back = max(back, len(piece) - at - 1 + k)
                    k = fail[k - 1]
                    break
            self._state[i] = k
        return back


def _failure(stop: str) -> list[int]:
    """For each prefix of ``stop``, the length of its longest proper end that also begins it."""
    fail = [0] * len(stop)
    k = 0
    for i in range(1, len(stop)):
        while k and stop[i] != stop[k]:
            k = fail[k - 1]
        if stop[i] == stop[k]:
            k += 1
        fail[i] = k
    return fail
