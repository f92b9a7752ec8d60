"""Sending a :class:`~.messages.StreamingResponse`'s body, and giving one up.

The connection sends a streaming answer's body chunk by chunk (chunked transfer encoding; to an
HTTP/1.0 client, which knows no chunked, unframed and ended by closing the connection) as
its producer yields, from one pump task per connection; answers pipelined behind it wait, in
order. The pump waits while writing is paused, so a slow reader slows its producer instead of
growing the buffer; a client that goes away cancels the pump, which closes the producer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from inferd.protocols.http.messages import Response, StreamingResponse, encode_chunk

log = logging.getLogger(__name__)


async def send_chunks(
    response: StreamingResponse,
    transport: Callable[[], asyncio.Transport | None],
    writable: asyncio.Event,
    *,
    chunked: bool = True,
) -> bool:
    """Write each chunk the producer yields (framed as a chunk, or as it is without
    ``chunked``), waiting while writing is paused; True when the
    producer finished, False when the client left or the producer failed. However it ends, the
    producer is closed, and abandoned (:attr:`~.messages.StreamingResponse.abandon`) when it
    did not finish."""
    chunks = response.chunks
    assert chunks is not None
    complete = False
    try:
        async for chunk in chunks:
            sink = transport()
            if sink is None:
                return False
            if chunk:
                sink.write(encode_chunk(chunk) if chunked else chunk)
            await writable.wait()
        complete = True
    except asyncio.CancelledError:
        raise
    except Exception:
        # The status line is gone: the only way left to say "failed" is to cut the body
        # short, which a client sees as an incomplete chunked body.
        log.exception("a streaming answer failed after it started")
    finally:
        if not complete and response.abandon is not None:
            response.abandon()
        closing = getattr(chunks, "aclose", None)
        if closing is not None:
            await closing()
    return complete


def start_pump(pump: Coroutine[Any, Any, None], response: StreamingResponse) -> asyncio.Task[None]:
    """Run ``pump`` (which sends ``response``) as a task. One cancelled before its first step (its
    client left in the same turn) never runs the cleanup :func:`send_chunks` does: its
    producer is abandoned here instead (a generation ran on for nobody up to ``max_tokens``).
    Abandoning is idempotent: a pump cancelled later has abandoned already."""
    task = asyncio.get_running_loop().create_task(pump)
    task.add_done_callback(lambda done: abandon(response) if done.cancelled() else None)
    return task


def abandon_unsent(task: asyncio.Task[Response]) -> None:
    """Cancel a request's task; if it already finished with a streaming answer, which will now
    never be sent, stop that answer's producer too."""
    if task.done() and not task.cancelled() and task.exception() is None:
        answer = task.result()
        if isinstance(answer, StreamingResponse):
            abandon(answer)
    task.cancel()


def abandon(answer: StreamingResponse) -> None:
    """Stop the producer of a streaming answer that will never be sent."""
    if answer.abandon is not None:
        answer.abandon()
    closing = getattr(answer.chunks, "aclose", None)
    if closing is not None:
        asyncio.get_running_loop().create_task(closing())
