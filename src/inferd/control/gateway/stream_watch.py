"""Timing a relayed OpenAI stream as it passes: time to the first text event, mean time
between text events, whether its ``[DONE]`` passed, and (for a shadow comparison) its text."""

from __future__ import annotations

import time

from inferd.control.gateway.generation_compare import Generation, StreamedText
from inferd.protocols.openai.completions import DONE

#: The line that ends an OpenAI stream, with the newline before it.
DONE_LINE = b"\n" + DONE.rstrip()


class StreamWatch:
    """Times a relayed Server-Sent Events stream by its text events (and keeps their text when
    a shadow's answer is to be compared with it)."""

    def __init__(self, started: float, *, keep_text: bool) -> None:
        self._started = started
        self._text = StreamedText() if keep_text else None
        self._first: float | None = None
        self._last = 0.0
        self._events = 0
        #: The last bytes fed (a ``[DONE]`` line may be split between chunks), and whether the
        #: ``[DONE]`` event passed; a line starts after a newline, which JSON text never holds.
        self._tail = b"\n"
        self._done = False

    def feed(self, chunk: bytes) -> None:
        if self._text is not None:
            self._text.feed(chunk)
        if not self._done:
            seen = self._tail + chunk
            self._done = DONE_LINE in seen
            self._tail = seen[-len(DONE_LINE) + 1 :]
        # One text event per token (or per few, when a piece is held back for UTF-8 or a stop
        # string): an event with an empty text (the chat role, the finish) is not counted.
        events = chunk.count(b'"content":"') - chunk.count(b'"content":""')
        events += chunk.count(b'"text":"') - chunk.count(b'"text":""')
        if events <= 0:
            return
        now = time.perf_counter()
        if self._first is None:
            self._first = now
            events -= 1
        self._last = now
        self._events += events

    @property
    def ttft(self) -> float | None:
        return None if self._first is None else self._first - self._started

    @property
    def itl(self) -> float | None:
        if self._first is None or self._events == 0:
            return None
        return (self._last - self._first) / self._events

    def generation(self) -> Generation:
        return self._text.generation() if self._text is not None else Generation()

    @property
    def complete(self) -> bool:
        """Whether the stream's ``[DONE]`` was relayed."""
        return self._done

    @property
    def failed(self) -> bool:
        """Whether the stream carried an error event (known only when its text is kept)."""
        return self._text is not None and self._text.failed
