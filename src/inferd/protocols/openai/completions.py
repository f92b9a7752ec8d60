"""``POST /v1/chat/completions`` and ``POST /v1/completions``: decode the body, ask the data
plane for the model, generate, and answer with the whole text or stream it.

A streamed answer is Server-Sent Events, as OpenAI sends them: a chat stream opens with the
assistant's role, then one chunk per piece of text, then an empty delta with the finish reason;
with ``stream_options.include_usage`` every chunk carries ``usage: null`` and a last chunk
carries the usage with no choices; ``data: [DONE]`` ends the stream. A generation that fails
once the stream has started (its deadline passed, its model unloaded) ends the stream with an
error event, which OpenAI's clients raise. Errors before that are plain HTTP errors.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import dataclass

from inferd.errors import InferdError
from inferd.generation import FinishReason
from inferd.protocols.http import Request, Response, json_response
from inferd.protocols.openai.answers import (
    ChatCompletion,
    ChatCompletionChunk,
    Delta,
    TextCompletion,
    Usage,
)
from inferd.protocols.openai.errors import error_event
from inferd.protocols.openai.models import generator
from inferd.protocols.openai.protocol import ChatCompletionRequest, CompletionRequest
from inferd.protocols.text_wire import (
    Timeout,
    collect,
    deadline,
    event_stream,
    parse_body,
    sse_event,
    texts,
)
from inferd.serving.generation import MeteredGeneration
from inferd.serving.types import DataPlane

DONE = b"data: [DONE]\n\n"


@dataclass(frozen=True, slots=True)
class _Answer:
    """What the answer to one request, and each of its chunks, repeats."""

    id: str
    created: int
    model: str
    include_usage: bool = False

    @classmethod
    def new(cls, prefix: str, model: str, include_usage: bool = False) -> _Answer:
        return cls(f"{prefix}-{uuid.uuid4().hex}", int(time.time()), model, include_usage)

    def chat_chunk(self, delta: Delta, finish: FinishReason | None = None) -> ChatCompletionChunk:
        chunk: ChatCompletionChunk = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }
        if self.include_usage:
            chunk["usage"] = None
        return chunk

    def chat_usage(self, usage: Usage) -> ChatCompletionChunk:
        return {**self.chat_chunk({}), "choices": [], "usage": usage}

    def text_chunk(self, text: str, finish: FinishReason | None = None) -> TextCompletion:
        chunk: TextCompletion = {
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": None}],
        }
        if self.include_usage:
            chunk["usage"] = None
        return chunk

    def text_usage(self, usage: Usage) -> TextCompletion:
        return {**self.text_chunk(""), "choices": [], "usage": usage}


class CompletionHandlers:
    """Chat and text completions over one data plane; ``timeout`` gives a model's default
    deadline (None: a generation runs until it ends, or its client leaves)."""

    def __init__(self, dataplane: DataPlane, timeout: Timeout | None = None) -> None:
        self.dataplane = dataplane
        self.timeout = timeout

    async def chat(self, request: Request) -> Response:
        received = time.monotonic()
        body = parse_body(ChatCompletionRequest, request.body)
        served = await generator(self.dataplane, body.model)
        prompt = served.chat_prompt(body.messages_read())
        generation = served.generate(
            prompt, body.asked(), "chat", deadline(request, served.model, self.timeout, received)
        )
        answer = _Answer.new("chatcmpl", body.model, body.include_usage)
        if body.streams:
            return event_stream(
                _events(
                    generation,
                    opening=answer.chat_chunk({"role": "assistant", "content": ""}),
                    piece=lambda text: answer.chat_chunk({"content": text}),
                    ending=lambda reason: answer.chat_chunk({}, reason),
                    tail=answer.chat_usage if answer.include_usage else None,
                ),
                generation.cancel,
            )
        text = await collect(generation)
        document: ChatCompletion = {
            "id": answer.id,
            "object": "chat.completion",
            "created": answer.created,
            "model": answer.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": generation.finish_reason or "stop",
                    "logprobs": None,
                }
            ],
            "usage": usage(generation),
        }
        return json_response(document)

    async def complete(self, request: Request) -> Response:
        received = time.monotonic()
        body = parse_body(CompletionRequest, request.body)
        served = await generator(self.dataplane, body.model)
        generation = served.generate(
            body.text,
            body.asked(),
            "text_completion",
            deadline(request, served.model, self.timeout, received),
        )
        answer = _Answer.new("cmpl", body.model, body.include_usage)
        if body.streams:
            return event_stream(
                _events(
                    generation,
                    opening=None,
                    piece=answer.text_chunk,
                    ending=lambda reason: answer.text_chunk("", reason),
                    tail=answer.text_usage if answer.include_usage else None,
                ),
                generation.cancel,
            )
        text = await collect(generation)
        document: TextCompletion = {
            **answer.text_chunk(text, generation.finish_reason or "stop"),
            "usage": usage(generation),
        }
        return json_response(document)


def usage(generation: MeteredGeneration) -> Usage:
    """The tokens a finished generation read and wrote."""
    prompt, completion = generation.prompt_tokens, generation.completion_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": generation.cached_tokens},
    }


async def _events(
    generation: MeteredGeneration,
    *,
    opening: object | None,
    piece: Callable[[str], object],
    ending: Callable[[FinishReason], object],
    tail: Callable[[Usage], object] | None,
) -> AsyncGenerator[bytes, None]:
    """The events of one streamed generation. Closing this iterator (the client left) closes
    :func:`~inferd.protocols.text_wire.texts`, which cancels the generation."""
    async with aclosing(texts(generation)) as stream:
        try:
            if opening is not None:
                yield sse_event(opening)
            async for text in stream:
                yield sse_event(piece(text))
        except InferdError as exc:
            yield error_event(exc)
            yield DONE
            return
    yield sse_event(ending(generation.finish_reason or "stop"))
    if tail is not None:
        yield sse_event(tail(usage(generation)))
    yield DONE
